"""The router on tiny random encoders: batched early exit == one by one, calibration that
hits its target, temperature fitting, ECE, abstention and the no-expert answer, data with
held-out phrasings, and a tiny build through the CLI."""

from __future__ import annotations

import collections
import json

import pytest
import torch

from experts.core.errors import TinyExpertsError
from experts.model import tiny_encoder_config
from router.calibrate import calibrate, ece, fit_temperature, threshold_for
from router.data import INTENT_PLAN, INTENTS, OUTPUTS, phrasing_splits, router_datasets
from router.model import (
    INTENT_SETS,
    RouterModel,
    exit_confidence,
    row_exit_confidence,
    run_layer,
)
from router.runtime import Router, evaluate_router, fast_tokenizer


def _router(seed=0, layers=3) -> RouterModel:
    torch.manual_seed(seed)
    cfg = tiny_encoder_config()
    cfg.num_hidden_layers = layers
    return RouterModel(cfg, RouterModel.head_config()).eval()


QUERIES = ["does this Bosch 0242236541 plug fit a 2012 Civic", "P0171 system too lean",
           "how do I bake bread", "NGK 6619 iridium spark plug", "what does U0100 mean",
           "write a poem about the sea", "Denso 234-4209 oxygen sensor 4 wire", "hi"]


def _enc(tokenizer):
    enc = tokenizer(QUERIES, padding=True, return_tensors="pt")
    return enc["input_ids"], enc["attention_mask"]


def test_batched_early_exit_matches_one_by_one(tokenizer):
    model = _router()
    with torch.no_grad():  # every head leans to "categorize" (both heads), weights vary it
        for head in model.heads():
            head.bias[:5] = (INTENT_SETS[0] * 2 - 1) * 2.0
            head.bias[5:] = torch.nn.functional.one_hot(torch.tensor(0), len(INTENTS)) * 4.0
    enc = tokenizer(QUERIES, padding=True, return_tensors="pt")
    # thresholds halfway between the two middle confidences of each exit: some rows leave
    # early, some don't, and no row sits on a threshold (batched and one-by-one confidences
    # differ by float rounding, ~1e-7, so a row exactly on one could go either way)
    with torch.no_grad():
        exits = model.all_exits(enc["input_ids"], enc["attention_mask"])

    def between_middle_two(conf: torch.Tensor) -> float:
        c = conf.sort().values
        return float(c[len(c) // 2 - 1] + c[len(c) // 2]) / 2

    thresholds = [between_middle_two(exit_confidence(e)) for e in exits[:-1]] + [0.0]
    assert min(thresholds[:-1]) > 0.5
    temps = [1.0] * 3
    logits, layer = model.early_exit(enc["input_ids"], enc["attention_mask"], thresholds, temps)
    assert len(set(layer.tolist())) >= 2, "the test needs rows exiting at different layers"
    for i, q in enumerate(QUERIES):
        one = tokenizer([q], return_tensors="pt")
        lg, ly = model.early_exit(one["input_ids"], one["attention_mask"], thresholds, temps)
        assert int(ly[0]) == int(layer[i])
        assert torch.allclose(lg[0], logits[i], atol=1e-4)
        assert torch.equal((lg[0, :5] > 0), (logits[i, :5] > 0))
        # the exit really is the first layer whose confidence passes
        assert torch.allclose(logits[i], exits[int(layer[i])][i], atol=1e-4)


def test_router_layers_see_the_same_padding_mask_as_bert(tokenizer):
    """The router runs BERT's layers one by one with its own attention mask; on a padded
    batch the last hidden states must equal BertModel's own forward pass."""
    model = _router()
    enc = tokenizer(QUERIES, padding=True, return_tensors="pt")
    mask = enc["attention_mask"]
    assert not bool(mask.all()), "the test needs padding"
    with torch.no_grad():
        ref = model.encoder(input_ids=enc["input_ids"], attention_mask=mask).last_hidden_state
        h0, mask4 = model._embed(enc["input_ids"], mask)
        h, lean = h0, h0
        for layer in model.encoder.encoder.layer:
            h = layer(h, mask4)  # the modules (training, calibration)
            lean = run_layer(layer, lean, mask4)  # written out (early exit, full depth)
    real = mask.bool()
    assert torch.allclose(h[real], ref[real], atol=1e-5)
    assert torch.allclose(lean[real], ref[real], atol=1e-5)
    assert model._embed(enc["input_ids"][:1, :3], mask[:1, :3])[1] is None  # nothing padded


def test_threshold_hits_the_accuracy_target_on_a_toy_set():
    g = torch.Generator().manual_seed(0)
    conf = torch.rand(2000, generator=g) * 0.5 + 0.5
    correct = torch.rand(2000, generator=g) < conf  # accuracy grows with confidence
    tau = threshold_for(conf, correct, target=0.9)
    kept = conf >= tau
    assert correct[kept].float().mean() >= 0.9
    # and it is the lowest such threshold: one step lower misses the target
    lower = conf[conf < tau].max()
    assert correct[conf >= lower].float().mean() < 0.9 or (conf >= lower).sum() == len(conf)
    assert 0.75 < tau < 0.95  # where accuracy 0.9 sits for conf ~ U(0.5, 1)
    assert threshold_for(conf, correct, target=1.01) == 1.01  # unreachable: nobody exits


def test_temperature_fit_recovers_the_true_scale():
    g = torch.Generator().manual_seed(1)
    z = torch.randn(4000, 5, generator=g) * 2
    targets = (torch.rand(4000, 5, generator=g) < torch.sigmoid(z)).float()
    t = fit_temperature(torch.cat([z * 3, torch.zeros(4000, 8)], 1), targets)
    assert t == pytest.approx(3.0, rel=0.15)


def test_ece_known_values():
    probs = torch.full((1000,), 0.9)
    right = torch.zeros(1000)
    right[:900] = 1
    assert ece(probs, right) == pytest.approx(0.0, abs=1e-6)
    right[:500], right[500:] = 1, 0
    assert ece(probs, right) == pytest.approx(0.4, abs=1e-6)


def _intent_logits(sets: torch.Tensor, bits: torch.Tensor, intent_scale: float = 6.0):
    """Logits whose intent head names the intent of each row's expert set (rows of `sets`
    index INTENTS) at `intent_scale`, with the given bit logits."""
    intent = torch.nn.functional.one_hot(sets, len(INTENTS)).float() * intent_scale
    return torch.cat([bits, intent], 1)


def _set_targets(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    which = torch.randint(len(INTENTS), (n,), generator=torch.Generator().manual_seed(seed))
    return which, INTENT_SETS[which]


def test_calibrate_gives_one_threshold_per_exit_and_no_abstain_when_accurate():
    g = torch.Generator().manual_seed(2)
    which, targets = _set_targets(600, 2)
    good = (targets * 2 - 1) * 6  # confident and right
    noisy = good + torch.randn(600, 5, generator=g) * 6
    # the noisy exit's intent head names another intent, unsure, on a third of the rows
    off = torch.rand(600, generator=g) < 1 / 3
    noisy_exit = _intent_logits(torch.where(off, (which + 1) % len(INTENTS), which), noisy)
    noisy_exit[off, len(OUTPUTS):] *= 0.2
    logits = [noisy_exit, _intent_logits(which, good)]
    c = calibrate(logits, targets)
    assert len(c["thresholds"]) == 2 and c["thresholds"][-1] == 0.0
    assert c["validation_full_depth_accuracy"] == 1.0 and c["abstain_below"] == 0.0
    assert 0.5 < c["thresholds"][0] <= 1.0


def test_each_exit_is_calibrated_on_the_rows_that_reach_it():
    """800 easy rows leave at exit 0. At exit 1 the 200 hard rows look confident but agree
    with full depth only half the time: judged together with the easy rows (which have
    already left) they would pass a 0.9 target (900 / 1000) and leave; judged on the rows
    that really reach exit 1, they must stay for the last layer."""
    which, targets = _set_targets(1000, 3)
    sign = targets * 2 - 1
    wrong = sign.clone()
    wrong[900:, 0] *= -1  # half of the hard rows (800-999) decide differently at exit 1
    exit0 = torch.cat([sign[:800] * 5, -sign[800:] * 0.1])  # hard rows: unsure and wrong
    exit1 = torch.cat([sign[:800] * 5, wrong[800:] * 2])
    # the intent head at exit 1 is fooled too: it names whatever set the bits name there
    fooled = torch.tensor([INTENT_SETS.tolist().index(r) if r in INTENT_SETS.tolist() else 0
                           for r in (exit1[:, :5] > 0).float().tolist()])
    # at exit 0 the hard rows' intent head is unsure and names another set
    first = _intent_logits(which, exit0)
    first[800:] = _intent_logits((which[800:] + 1) % len(INTENTS), exit0[800:], 0.5)
    logits = [first, _intent_logits(fooled, exit1), _intent_logits(which, sign * 4)]
    c = calibrate(logits, targets, exit_agreement=0.9)
    conf = [exit_confidence(lg / t) for lg, t in zip(logits, c["temperatures"], strict=True)]
    leave0 = conf[0] >= c["thresholds"][0]
    assert bool(leave0[:800].all()) and not bool(leave0[800:].any())
    leave1 = ~leave0 & (conf[1] >= c["thresholds"][1])
    assert not bool(leave1.any()), "the hard rows agree 50 % at exit 1: none may leave there"
    # the share of rows that run each layer: all, the 200 hard ones, the same 200
    assert c["reach"] == pytest.approx([1.0, 0.2, 0.2])


def test_exit_cost_pruning_favours_the_units_of_layers_few_queries_reach():
    from experts.specialize.importance import UnitScores
    from router.train import per_expected_cost

    heads = torch.tensor([[0.8, 0.6, float("inf")], [0.5, 0.3, 0.2]])
    scores = UnitScores(heads=heads, ffn=[torch.tensor([0.9, 0.4]), torch.tensor([0.3])],
                        layers=torch.zeros(2), signals={})
    same = per_expected_cost(scores, [1.0, 0.25], 0.0)
    assert torch.equal(same.heads, heads) and torch.equal(same.ffn[1], scores.ffn[1])
    cost = per_expected_cost(scores, [1.0, 0.25], 1.0)
    # layer 2 runs for a quarter of the queries: its units count four times
    assert cost.heads[1].tolist() == pytest.approx([2.0, 1.2, 0.8])
    assert cost.heads[0, 2] == float("inf") and cost.ffn[1].tolist() == pytest.approx([1.2])
    assert cost.heads[1, 0] > cost.heads[0, 0]  # now outranks the first layer's best head
    half = per_expected_cost(scores, [1.0, 0.25], 0.5)
    assert half.ffn[1].tolist() == pytest.approx([0.6])


def test_an_exit_whose_two_heads_disagree_is_not_sure():
    which, targets = _set_targets(4, 5)
    bits = (targets * 2 - 1) * 8  # every bit at sigmoid(8) = 0.99966
    agree = _intent_logits(which, bits, intent_scale=10.0)
    conf = exit_confidence(agree)
    p_intent = agree[:, 5:].softmax(-1).max(-1).values
    assert torch.allclose(conf, torch.minimum(p_intent, torch.sigmoid(torch.tensor(8.0))))
    other = (which + 1) % len(INTENTS)  # the intent head names a different intent ...
    differs = (INTENT_SETS[other] != targets).any(-1)  # ... and, where the sets differ,
    conf = exit_confidence(_intent_logits(other, bits, intent_scale=10.0))
    assert bool(differs.any()) and bool((conf[differs] == 0).all())  # no exit
    assert bool((conf[~differs] > 0.99).all())


def test_one_row_exit_confidence_is_the_tensor_rule():
    """The batch-1 check on Python floats gives what `exit_confidence` gives: agreeing
    heads at several margins, disagreeing heads (0), and random logits."""
    which, targets = _set_targets(4, 5)
    rows = []
    for scale in (0.5, 2.0, 8.0):
        bits = (targets * 2 - 1) * scale
        rows += [_intent_logits(which, bits, intent_scale=s) for s in (0.3, 3.0, 10.0)]
        rows.append(_intent_logits((which + 1) % len(INTENTS), bits, intent_scale=3.0))
    torch.manual_seed(0)
    rows.append(torch.randn(64, len(OUTPUTS) + len(INTENTS)) * 4)
    logits = torch.cat(rows)
    want = exit_confidence(logits)
    got = torch.tensor([row_exit_confidence(r) for r in logits.tolist()])
    assert bool((want == 0).any()) and bool((want > 0.9).any())  # both kinds are covered
    assert torch.allclose(got, want, atol=1e-6)


def test_router_tokenizer_gives_the_transformers_ids_and_mask(tokenizer):
    """The Rust tokenizer the router calls directly pads and truncates like the transformers
    tokenizer it was copied from, and leaves that tokenizer's settings alone."""
    fast = fast_tokenizer(tokenizer, 64)
    texts = QUERIES + ["Bosch spark plug " * 40]  # the last is cut at 64 tokens
    want = tokenizer(texts, padding=True, truncation=True, max_length=64)
    got = fast.encode_batch(texts)
    assert [e.ids for e in got] == want["input_ids"]
    assert [e.attention_mask for e in got] == want["attention_mask"]
    assert len(got[-1].ids) == 64 and 0 in got[-2].attention_mask  # both really happened
    assert fast.encode(QUERIES[0]).ids == tokenizer(QUERIES[0])["input_ids"]
    assert len(tokenizer(texts[-1])["input_ids"]) > 64  # the original is not truncating


def test_a_router_left_in_training_mode_routes_without_dropout(tokenizer):
    model = _router()
    model.encoder.embeddings.dropout.p = 0.5  # in training mode it would change every route
    r = Router(model, tokenizer, _calib())
    want = r.route(QUERIES[:3])
    model.train()
    assert r.route(QUERIES[:3]) == want and not model.training


def _calib(layers=3, abstain=0.0, thresholds=None):
    return {"temperatures": [1.0] * layers, "thresholds": thresholds or [1.01] * (layers - 1)
            + [0.0], "abstain_below": abstain}


def test_abstention_and_no_expert_paths(tokenizer):
    model = _router()
    with torch.no_grad():  # bias the final head: every bit "no", intent out of scope
        model.classifier.weight.zero_()
        model.classifier.bias.zero_()
        model.classifier.bias[: len(OUTPUTS)] = -8.0
        model.classifier.bias[len(OUTPUTS) + INTENTS.index("out_of_scope")] = 8.0
    r = Router(model, tokenizer, _calib())
    out = r.route(["how do I bake bread"])[0]
    assert out["decision"] == "no_expert" and out["experts"] == [] and not out["llm"]
    assert out["exit_layer"] == 3
    r = Router(model, tokenizer, _calib(abstain=0.9999999))
    out = r.route(["how do I bake bread"])[0]
    assert out["decision"] == "abstain" and out["llm"] and out["experts"] == []
    with pytest.raises(TinyExpertsError, match="empty query"):
        r.route(["  "])
    with pytest.raises(TinyExpertsError, match="too long"):
        r.route(["x" * 5000])


def test_latency_walks_through_the_queries_in_the_same_order_for_both_modes():
    from router.runtime import route_latency

    class Recorder:
        def __init__(self):
            self.calls = {True: [], False: []}

        def decide(self, batch, early_exit):
            self.calls[early_exit].append(list(batch))

    rec, texts = Recorder(), [f"q{i}" for i in range(7)]
    for mode in (True, False):
        route_latency(rec, texts, batch_size=1, early_exit=mode, runs=7, warmup=0)
    assert rec.calls[True] == rec.calls[False] == [[t] for t in texts]
    rec = Recorder()
    route_latency(rec, texts, batch_size=3, early_exit=True, runs=3, warmup=0)
    assert rec.calls[True] == [["q0", "q1", "q2"], ["q3", "q4", "q5"], ["q6", "q0", "q1"]]


def test_router_data_holds_out_phrasings(small_ontology):
    data = router_datasets(small_ontology, seed=0,
                           per_intent={"train": 60, "validation": 20, "test": 40})
    for split in data:
        assert {q.intent for q in data[split]} == set(INTENTS)
    oos = [q for q in data["test"] if q.intent == "out_of_scope"]
    assert oos and all(q.experts == () for q in oos)
    multi = [q for q in data["train"] if len(q.experts) == 2]
    assert multi and all(set(q.experts) == set(INTENT_PLAN[q.intent][0]) for q in multi)
    phr = phrasing_splits(0)
    for name, parts in phr.items():  # every list is partitioned, nothing shared
        assert parts["test"] and parts["validation"] and parts["train"], name
        assert not set(parts["test"]) & set(parts["train"]), name
        assert not set(parts["validation"]) & set(parts["train"]), name

    def fixed_text(template):  # the longest slot-free piece of a phrasing
        import re
        return max(re.split(r"\{[a-z0-9]+\}", template), key=len).strip().lower()

    # a held-out ask's fixed words show up in test queries, never in training queries
    # (unless a training phrasing of another list contains them, e.g. "which department
    # sells it" for "which department sells {p}?")
    train_phrasings = " ".join(t.lower() for parts in phr.values() for t in parts["train"])
    held = [fixed_text(t) for t in phr["category:named"]["test"]
            if len(fixed_text(t)) > 12 and fixed_text(t) not in train_phrasings]
    assert len(held) >= 3
    train_text = " ".join(q.text.lower() for q in data["train"])
    test_text = " ".join(q.text.lower() for q in data["test"])
    assert not any(h in train_text for h in held)
    assert any(h in test_text for h in held)
    assert {q.phrasing for q in data["test"]} == {"hand", "generated", "raw"}


def test_generated_asks_hold_out_frames_and_never_leak_a_written_ask():
    import re

    from router.data import SPLITS, split_three_ways
    from router.grammar import FRAME_FAMILIES, generated_asks

    frames = {fam: split_three_ways(items, 0) for fam, items in FRAME_FAMILIES.items()}
    for fam, parts in frames.items():  # a frame belongs to one split
        assert set(parts["train"]).isdisjoint(parts["test"] + parts["validation"]), fam
    phr = phrasing_splits(0)
    generated = [name for name in phr if name.endswith(":grammar")]
    assert len(generated) == 8
    # the frame, not the sentence: a test frame's generated asks are all test-only
    test_frame = frames["product"]["test"][0]
    pattern = re.escape(test_frame).replace(r"\{X\}", ".+")
    asks = phr["category:grammar"]["test"] + phr["attributes:grammar"]["test"]
    assert sum(bool(re.fullmatch(pattern, a)) for a in asks) >= 2
    assert not any(re.fullmatch(pattern, a) for a in phr["category:grammar"]["train"])
    # the same frame with a component is a free-form question, with a landmark out of scope
    one = {"question": ["describe {O}"]}
    asks = generated_asks({**{f: [] for f in FRAME_FAMILIES}, **one})
    assert "describe the {component}" in asks["llm:grammar"]
    assert "describe the eiffel tower" in asks["none:grammar"]
    # no generated ask repeats a hand-written phrasing of another split
    key = lambda t: t.lower().rstrip("?. ")  # noqa: E731
    for split in SPLITS:
        written_elsewhere = {key(t) for name in phr if not name.endswith(":grammar")
                             for s in SPLITS if s != split for t in phr[name][s]}
        assert not any(key(t) in written_elsewhere for name in generated
                       for t in phr[name][split])


def test_tiny_router_build_route_and_eval_via_cli(tiny_home, tmp_path, monkeypatch, capsys):
    import shutil

    from experts.core.paths import Paths
    from router.build import build_router
    from services.cli import main

    home = tmp_path / "home"
    shutil.copytree(tiny_home, home)
    out = build_router(Paths(home), quick=True, progress=False, log=lambda *_: None,
                       encoder_config=tiny_encoder_config())
    assert out["version"] == "v1" and 0.0 <= out["test"]["early_exit"]["exact_match"] <= 1.0
    monkeypatch.setenv("TINYEXPERTS_HOME", str(home))
    capsys.readouterr()
    assert main(["route", "NGK 6619 iridium spark plug", "--json"]) == 0
    r = json.loads(capsys.readouterr().out)
    assert r["decision"] in ("experts", "llm", "no_expert", "abstain")
    assert set(r["scores"]) == set(OUTPUTS) and 1 <= r["exit_layer"] <= r["layers"]
    assert main(["eval", "router", "--json"]) == 0
    rep = json.loads(capsys.readouterr().out)
    assert rep["n_examples"] > 0 and "mean_exit_layer" in rep["early_exit"]
    by_kind = rep["early_exit"]["exact_match_by_phrasing"]
    assert set(by_kind) == {"hand", "generated", "raw"}
    counts = collections.Counter(json.loads(line)["phrasing"] for line in (
        home / "data" / "router" / "test.jsonl").read_text().splitlines())
    # the overall exact match is the per-kind scores weighted by how many queries each has
    overall = sum(by_kind[k] * n for k, n in counts.items()) / sum(counts.values())
    assert overall == pytest.approx(rep["early_exit"]["exact_match"], abs=1e-6)
    assert main(["route", " "]) == 2
    # the router is versioned like an expert: show, activate and roll back by name
    assert main(["registry", "activate", "router", "v1"]) == 0
    assert "router: v1 is active" in capsys.readouterr().out
    assert main(["registry", "show", "router", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["task"] == "route"
    assert main(["registry", "activate", "routr", "v1"]) == 2
    assert "use one of:" in capsys.readouterr().err


def test_frequent_wordpieces_are_the_commonest_words(tokenizer):
    from experts.specialize.steps import frequent_wordpieces

    ids = frequent_wordpieces(tokenizer, 300)
    words = {tokenizer.convert_ids_to_tokens(i) for i in ids}
    assert len(ids) == 300
    assert {"the", "of", "and", "is", "for"} <= words
    assert not ids & set(tokenizer.all_special_ids)
    assert all(len(w.removeprefix("##")) >= 2 and not w.startswith("[") for w in words)
    assert "spark" not in words  # a domain word is not among the 300 commonest


def test_quick_router_trains_only_its_exit_heads(small_ontology, tokenizer):
    from experts.model import ExpertModel
    from router.model import RouterModel
    from router.train import RouterTrainConfig, quick_router

    torch.manual_seed(0)
    base = RouterModel.from_expert(ExpertModel(tiny_encoder_config(tokenizer.vocab_size),
                                               RouterModel.head_config()))
    rows = router_datasets(small_ontology, 0)["train"]
    cfg = RouterTrainConfig(layers=(0, 1))
    untrained, _ = quick_router(base, tokenizer, rows, cfg, seed=0, progress=False,
                                n_rows=128, epochs=0)
    student, report = quick_router(base, tokenizer, rows, cfg, seed=0, progress=False,
                                   n_rows=128, epochs=3)
    assert report["rows"] == 128 and report["steps"] == 3 * 2  # 2 batches of 64, 3 epochs
    assert len(student.encoder.encoder.layer) == 2 and len(student.heads()) == 2
    kept = base.encoder.encoder.layer
    for k, layer in zip((0, 1), student.encoder.encoder.layer, strict=True):
        assert all(torch.equal(a, b) for a, b in zip(kept[k].state_dict().values(),
                                                     layer.state_dict().values(), strict=True))
    assert all(not torch.equal(u.weight, h.weight)  # the same seeded start, then trained
               for u, h in zip(untrained.heads(), student.heads(), strict=True))
    assert not student.training


def test_router_teacher_logits_are_the_teachers_last_layer_per_query(small_ontology, tokenizer):
    from experts.model import ExpertModel
    from router.model import RouterModel
    from router.train import encode_queries, inputs_of, teacher_logits

    torch.manual_seed(0)
    teacher = RouterModel.from_expert(ExpertModel(tiny_encoder_config(tokenizer.vocab_size),
                                                  RouterModel.head_config())).eval()
    rows = router_datasets(small_ontology, 0)["train"][:40]
    soft = teacher_logits(teacher, tokenizer, rows + rows[:5])  # repeated queries: one entry
    assert set(soft) == {q.text for q in rows}
    with torch.no_grad():
        direct = teacher(**inputs_of(encode_queries(tokenizer, rows[:8])))
    assert torch.allclose(torch.stack([soft[q.text] for q in rows[:8]]), direct, atol=1e-5)
    assert not torch.stack([soft[q.text] for q in rows[:8]]).is_inference()


def test_the_answer_is_the_plan_of_the_top_intent_even_where_the_bits_disagree():
    from router.calibrate import exact_match
    from router.model import chosen_sets

    fitment = INTENTS.index("fitment")
    bits = torch.tensor([[6.0, -6.0, -6.0, -6.0, -6.0]])  # the bits say "category"
    logits = _intent_logits(torch.tensor([fitment]), bits)
    want = [o in INTENT_PLAN["fitment"][0] for o in OUTPUTS]
    assert chosen_sets(logits).tolist() == [want]
    assert bool(exact_match(logits, torch.tensor([want]).float()))
    assert not bool(exact_match(logits, torch.tensor([[1.0, 0, 0, 0, 0]])))


def test_student_vocabulary_fills_the_parameter_budget(small_ontology, tokenizer):
    from experts.model import ExpertModel
    from experts.specialize.steps import vocabulary_to_keep
    from router.train import RouterTrainConfig, layer_student, prune_student

    def build_student(teacher, tokenizer, data, cfg, domain_text, seed):
        student = layer_student(teacher, cfg)
        return student, prune_student(student, tokenizer, data, cfg, domain_text, seed)

    torch.manual_seed(0)
    teacher = RouterModel.from_expert(ExpertModel(tiny_encoder_config(tokenizer.vocab_size),
                                                  RouterModel.head_config())).eval()
    data = router_datasets(small_ontology, 0,
                           per_intent={"train": 50, "validation": 5, "test": 5})
    texts = [q.text for s in ("train", "validation") for q in data[s]]
    base = len(vocabulary_to_keep(tokenizer, []))  # special tokens and characters
    used = len(vocabulary_to_keep(tokenizer, texts))
    # no room: special tokens and characters alone
    tight, d0 = build_student(teacher, tokenizer, data, RouterTrainConfig(
        layers=(0, 1), max_params=0, embedding_exit=False), [], 0)
    assert d0["vocab"] == base < used
    hidden = tight.encoder.embeddings.word_embeddings.embedding_dim
    # room for 10 rows: the data's 10 commonest pieces
    budget = tight.num_params() + 10 * hidden
    some, d1 = build_student(teacher, tokenizer, data, RouterTrainConfig(
        layers=(0, 1), max_params=budget, embedding_exit=False), [], 0)
    assert d1["vocab"] == base + 10 and some.num_params() == budget
    commonest = collections.Counter(i for t in texts for i in tokenizer(
        t, add_special_tokens=False)["input_ids"]).most_common(1)[0][0]
    assert vocabulary_to_keep(tokenizer, texts, limit=base + 10) >= {commonest}
    # room for every piece of the data and 50 more: the 50 commonest English pieces
    budget = tight.num_params() + (used - base + 50) * hidden
    roomy, d1 = build_student(teacher, tokenizer, data, RouterTrainConfig(
        layers=(0, 1), max_params=budget, embedding_exit=False), [], 0)
    assert d1["vocab"] == used + 50 and roomy.num_params() == budget  # same layers
    # with an embedding exit, its head's parameters come out of the same budget
    _, d2 = build_student(teacher, tokenizer, data, RouterTrainConfig(
        layers=(0, 1), max_params=budget, embedding_exit=True), [], 0)
    head = (hidden + 1) * RouterModel.head_config().num_labels
    assert d2["vocab"] == d1["vocab"] - -(-head // hidden)


def test_embedding_exit_leaves_before_any_layer_and_matches_one_by_one(tokenizer):
    model = _router()
    head = model.add_embedding_exit()
    assert model.exit_offset == 0 and len(model.all_exits(*_enc(tokenizer))) == 4
    with torch.no_grad():  # the embedding exit is sure on some queries, unsure on others
        head.weight.normal_(0, 0.1)  # confidences 0.70-0.76, all different
        head.bias[:5] = (INTENT_SETS[0] * 2 - 1) * 2.0
        head.bias[5:] = torch.nn.functional.one_hot(torch.tensor(0), len(INTENTS)) * 3.0
    ids, mask = _enc(tokenizer)
    with torch.no_grad():
        exits = model.all_exits(ids, mask)
    conf = exit_confidence(exits[0]).sort().values
    tau = float(conf[3] + conf[4]) / 2  # half the rows leave on their embeddings
    thresholds, temps = [tau, 1.01, 1.01, 0.0], [1.0] * 4
    logits, ex = model.early_exit(ids, mask, thresholds, temps)
    assert 0 < int((ex == 0).sum()) < len(QUERIES) and set(ex.tolist()) == {0, 3}
    for i, q in enumerate(QUERIES):
        one = tokenizer([q], return_tensors="pt")
        lg, e1 = model.early_exit(one["input_ids"], one["attention_mask"], thresholds, temps)
        assert int(e1[0]) == int(ex[i])
        assert torch.allclose(lg[0], logits[i], atol=1e-4)
        assert torch.allclose(logits[i], exits[int(ex[i])][i], atol=1e-4)
    router = Router(model, tokenizer, {"temperatures": temps, "thresholds": thresholds,
                                       "abstain_below": 0.0})
    layers_run = [r["exit_layer"] for r in router.route(QUERIES)]
    assert layers_run == [0 if int(e) == 0 else 3 for e in ex]
    assert router.decide(QUERIES, early_exit=False)[1].tolist() == [3] * len(QUERIES)


def test_embedding_exit_is_saved_loaded_and_served(tokenizer, tmp_path):
    from router.runtime import as_served
    from router.train import save_router

    model = _router()
    model.add_embedding_exit()
    calib = {"temperatures": [1.0] * 4, "thresholds": [0.0] * 4, "abstain_below": 0.0}
    save_router(model, calib, tokenizer, tmp_path)
    loaded = Router.load(tmp_path, int8=False).model
    assert torch.equal(loaded.embedding_exit.weight, model.embedding_exit.weight)
    plain = _router()
    save_router(plain, _calib(), tokenizer, tmp_path / "plain")
    assert Router.load(tmp_path / "plain", int8=False).model.embedding_exit is None
    served = as_served(model)
    assert type(served.embedding_exit) is torch.nn.Linear  # heads stay float
    ids, mask = _enc(tokenizer)
    _, ex = served.early_exit(ids, mask, calib["thresholds"], calib["temperatures"])
    assert ex.tolist() == [0] * len(QUERIES)  # threshold 0: everyone leaves first


def test_fit_embedding_exit_trains_that_head_alone(small_ontology, tokenizer):
    from router.train import RouterTrainConfig, fit_embedding_exit

    model = _router(layers=2)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    rows = router_datasets(small_ontology, 0,
                           per_intent={"train": 20, "validation": 2, "test": 2})["train"]
    report = fit_embedding_exit(model, tokenizer, rows, RouterTrainConfig(
        embedding_exit_epochs=3), seed=0, progress=False)
    assert report["steps"] == 3 * -(-len(rows) // 64)
    after = model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)  # nothing else moved
    assert set(after) - set(before) == {"embedding_exit.weight", "embedding_exit.bias"}
    assert not model.training and model.exit_offset == 0


def test_products_are_named_the_ways_people_name_them():
    import random

    from router.data import product_mention

    p = {"brand": "Bosch", "pn": "0242236541", "category": "spark plugs"}
    rng = random.Random(0)
    seen = collections.Counter(product_mention(p, "Bosch 0242236541 Spark Plug, Iridium", rng)
                               for _ in range(400))
    assert set(seen) == {"Bosch 0242236541 Spark Plug, Iridium", "Bosch 0242236541 spark plug",
                         "Bosch 0242236541", "0242236541"}
    assert seen["0242236541"] < seen["Bosch 0242236541"] < seen["Bosch 0242236541 spark plug"]


def test_the_router_abstains_only_where_the_free_form_path_is_right_more_often():
    from router.calibrate import abstain_threshold

    conf = torch.linspace(0.01, 1.0, 100)
    correct = conf > 0.3  # the 30 least confident are wrong
    wants_llm = torch.zeros(100, dtype=torch.bool)
    wants_llm[:20] = True  # of those, the 20 least confident want the free-form path alone
    tau = abstain_threshold(conf, correct, wants_llm)
    assert (conf < tau).sum() == 20  # abstaining on more would lose right answers or gain none
    assert abstain_threshold(conf, correct, torch.zeros(100, dtype=torch.bool)) == 0.0
    assert abstain_threshold(conf, torch.ones(100, dtype=torch.bool), wants_llm) == 0.0
    ties = torch.tensor([0.2, 0.2, 0.2, 0.9])  # a run of equal confidences is never split
    assert abstain_threshold(ties, torch.tensor([False, True, True, True]),
                             torch.tensor([True, False, False, False])) == 0.0


def test_served_exact_match_counts_an_abstention_as_the_free_form_path(tokenizer):
    from router.data import Query

    router = Router(_router(), tokenizer, _calib(abstain=2.0))
    rows = [Query("what does P0301 mean", ("llm",), "ask"),
            Query("does it fit a civic", ("compatibility",), "fitment")]
    rep = evaluate_router(router, rows)["early_exit"]
    assert rep["abstained"] == 1.0  # confidence is never above 2
    assert rep["served_exact_match"] == 0.5  # the llm question is right as served, the other not


@pytest.mark.parametrize("full_width_epochs", [0.0, 1.0])
def test_the_router_student_learns_at_full_width_before_it_is_pruned(
        small_ontology, tokenizer, monkeypatch, full_width_epochs):
    import router.train as rt
    from experts.structure import heads_per_layer

    data = router_datasets(small_ontology, 0,
                           per_intent={"train": 12, "validation": 4, "test": 2})
    seen = {}
    prune, reset = rt.prune_student, RouterModel.reset_exits

    def fresh_exits(self):  # the student's heads as they start
        reset(self)
        seen["start"] = [h.weight.detach().clone() for h in self.heads()]

    def watch(student, *args, **kwargs):  # the student as pruning finds it
        seen["heads"] = heads_per_layer(student)
        seen["trained"] = [not torch.equal(h.weight, w)
                           for h, w in zip(student.heads(), seen["start"], strict=True)]
        return prune(student, *args, **kwargs)

    monkeypatch.setattr(RouterModel, "reset_exits", fresh_exits)
    monkeypatch.setattr(rt, "prune_student", watch)
    cfg = rt.RouterTrainConfig(layers=(0, 1), full_width_epochs=full_width_epochs,
                               student_epochs=1.0, heads=0.5, ffn=0.5, max_params=10**9)
    student, _, report = rt.train_router(
        data, tokenizer, encoder_config=tiny_encoder_config(tokenizer.vocab_size), cfg=cfg,
        progress=False, log=lambda *_: None)
    batches = -(-len(data["train"]) // cfg.batch_size)
    assert seen["heads"] == [4, 4]  # the teacher's width when pruning starts
    assert seen["trained"] == [full_width_epochs > 0] * 2  # distilled first, or not at all
    assert report.get("student_full_width_train", {}).get("steps", 0) == (
        batches if full_width_epochs else 0)
    assert report["student_train"]["steps"] == batches
    assert sum(heads_per_layer(student)) == 4  # half of the 8, chosen across layers


def test_training_only_phrasings_reach_training_and_leave_the_held_out_splits_alone(
        small_ontology, monkeypatch):
    import router.data as rd

    written = rd.TRAIN_ONLY["compatibility:named"][0]
    assert written in phrasing_splits(0)["compatibility:named"]["train"]
    assert all(written not in parts[s] for parts in phrasing_splits(0).values()
               for s in ("validation", "test"))
    sizes = {"train": 40, "validation": 20, "test": 20}
    with_extra = router_datasets(small_ontology, seed=0, per_intent=sizes)
    # a training-only ask that repeats a held-out phrasing is dropped
    held = phrasing_splits(0)["category:named"]["test"][0]
    monkeypatch.setattr(rd, "TRAIN_ONLY",
                        {"category:named": [held.upper(), "sku {pn}: what is it"]})
    train = phrasing_splits(0)["category:named"]["train"]
    assert "sku {pn}: what is it" in train and held.upper() not in train
    # validation and test queries are the same with or without the training-only asks
    monkeypatch.setattr(rd, "TRAIN_ONLY", {})
    without = router_datasets(small_ontology, seed=0, per_intent=sizes)
    assert with_extra["test"] == without["test"]
    assert with_extra["validation"] == without["validation"]
    assert with_extra["train"] != without["train"]


def test_a_buyers_vehicle_after_a_determiner_keeps_one(small_ontology):
    import re

    from router.data import one_determiner

    assert one_determiner("does it fit a my 09 civic") == "does it fit my 09 civic"
    assert one_determiner("WILL IT FIT MY MY 2020 MAZDA3") == "WILL IT FIT MY 2020 MAZDA3"
    assert one_determiner("the myth of a mystery, my car") == "the myth of a mystery, my car"
    data = router_datasets(small_ontology, seed=0,
                           per_intent={"train": 80, "validation": 20, "test": 40})
    doubled = re.compile(r"\b(a|an|the|my|your) my\b", re.IGNORECASE)
    texts = [q.text for rows in data.values() for q in rows]
    assert any(re.search(r"\bmy\b", t, re.IGNORECASE) for t in texts)
    assert not any(doubled.search(t) for t in texts)


def test_router_exit_weights_give_the_last_exit_the_largest_share():
    from router.train import exit_weights

    assert exit_weights(4, "depth") == pytest.approx([0.1, 0.2, 0.3, 0.4])
    assert exit_weights(4, "uniform") == pytest.approx([0.25] * 4)
    assert exit_weights(1, "depth") == [1.0]  # the teacher's one head
    with pytest.raises(ValueError, match="exit_weighting"):
        exit_weights(3, "last")


@pytest.mark.parametrize("how", ["depth", "uniform"])
def test_the_router_student_is_trained_with_its_exit_weighting(small_ontology, tokenizer,
                                                               monkeypatch, how):
    import router.train as rt

    data = router_datasets(small_ontology, 0,
                           per_intent={"train": 8, "validation": 4, "test": 2})
    asked = collections.Counter()
    weights = rt.exit_weights

    def spy(n_exits, h):
        asked[(n_exits, h)] += 1
        return weights(n_exits, h)

    monkeypatch.setattr(rt, "exit_weights", spy)
    cfg = rt.RouterTrainConfig(layers=(0, 1), full_width_epochs=0.0, student_epochs=1.0,
                               heads=0.5, ffn=0.5, max_params=10**9, exit_weighting=how,
                               embedding_exit=False)
    rt.train_router(data, tokenizer, encoder_config=tiny_encoder_config(tokenizer.vocab_size),
                    cfg=cfg, progress=False, log=lambda *_: None)
    batches = -(-len(data["train"]) // cfg.batch_size)
    # the teacher's one head, then the student's two exits, at every step
    assert asked == {(1, how): batches, (2, how): batches}
