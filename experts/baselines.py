"""Simple baselines reported beside every teacher, so it is visible what the encoder adds.

- classify / pair: TF-IDF (word 1-2-grams + char 2-4-grams) + a linear SVM (one-vs-rest,
  ranked by decision score); a pair is read as "a ||| b". A linear SVM rather than logistic
  regression because it fits the 2,025 fault codes in half the time at a better score;
- tag: a linear-chain CRF (python-crfsuite) on word shape, affix and neighbour features.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np
import pycrfsuite
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.pipeline import make_pipeline, make_union
from sklearn.svm import LinearSVC

from experts.data.formats import Example
from experts.metrics import classification_metrics, tagging_metrics
from experts.specs import TaskKind


def _text(kind: TaskKind, ex: Example) -> str:
    return f"{ex.a} ||| {ex.b}" if kind == "pair" else ex.text


def tfidf_linear(kind: TaskKind, train: list[Example], test: list[Example]) -> dict:

    t0 = time.perf_counter()
    features = make_union(
        TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, max_features=30000),
        TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 4), sublinear_tf=True,
                        max_features=40000),
    )
    clf = make_pipeline(features, LinearSVC(C=1.0))
    clf.fit([_text(kind, e) for e in train], [e.label for e in train])
    scores = clf.decision_function([_text(kind, e) for e in test])
    classes = clf.classes_
    if scores.ndim == 1:  # two classes: one score, positive = classes[1]
        scores = np.stack([-scores, scores], axis=1)
    ranked = [[classes[i] for i in row] for row in np.argsort(-scores, axis=1)[:, :5]]
    out = classification_metrics([e.label for e in test], ranked)
    out["train_seconds"] = round(time.perf_counter() - t0, 1)
    out["method"] = "tfidf+linear_svm"
    return out


def _word_features(words: tuple[str, ...], i: int) -> list[str]:
    w = words[i]
    feats = [
        "bias", f"w={w.lower()}", f"suf3={w[-3:].lower()}", f"pre2={w[:2].lower()}",
        f"shape={_shape(w)}", f"digit={any(c.isdigit() for c in w)}",
        f"upper={w.isupper()}", f"title={w.istitle()}",
    ]
    for off in (-2, -1, 1, 2):
        j = i + off
        feats.append(f"{off}:w={words[j].lower()}" if 0 <= j < len(words) else f"{off}:pad")
        if 0 <= j < len(words):
            feats.append(f"{off}:shape={_shape(words[j])}")
    return feats


def _shape(word: str) -> str:
    out = []
    for c in word:
        s = "X" if c.isupper() else "x" if c.islower() else "d" if c.isdigit() else c
        if not out or out[-1] != s:
            out.append(s)
    return "".join(out)


def crf(train: list[Example], test: list[Example], critical: tuple[str, ...]) -> dict:

    t0 = time.perf_counter()
    trainer = pycrfsuite.Trainer(verbose=False)
    for ex in train:
        trainer.append([_word_features(ex.tokens, i) for i in range(len(ex.tokens))],
                       list(ex.tags))
    trainer.set_params({"c1": 0.1, "c2": 0.01, "max_iterations": 100})
    with tempfile.TemporaryDirectory() as d:
        path = str(Path(d) / "crf.model")
        trainer.train(path)
        tagger = pycrfsuite.Tagger()
        tagger.open(path)
        pred = [tagger.tag([_word_features(ex.tokens, i) for i in range(len(ex.tokens))])
                for ex in test]
        tagger.close()
    out = tagging_metrics([list(e.tags) for e in test], pred, critical)
    out["train_seconds"] = round(time.perf_counter() - t0, 1)
    out["method"] = "crf"
    return out


def description_lookup(descriptions: dict[str, str], texts: list[str], k: int = 5
                       ) -> list[list[str]]:
    """No training at all: each text's k labels whose description is nearest by TF-IDF
    cosine (word 1-2 grams + character 2-4 grams) — what a keyword search would find."""
    labels = list(descriptions)
    features = make_union(
        TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True),
        TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 4), sublinear_tf=True))
    docs = features.fit_transform([f"{lab} {descriptions[lab]}" for lab in labels])
    scores = (features.transform(texts) @ docs.T).toarray()
    return [[labels[i] for i in row] for row in np.argsort(-scores, axis=1)[:, :k]]


def baseline(kind: TaskKind, train: list[Example], test: list[Example],
             critical: tuple[str, ...] = ()) -> dict:
    return crf(train, test, critical) if kind == "tag" else tfidf_linear(kind, train, test)
