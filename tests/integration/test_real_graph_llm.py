"""The ontology encoder + graph tokens on the real models: MiniLM text features, R-GCN on
the default ontology, the real SmolLM2-135M-Instruct with a briefly trained projector; then
`tinyexperts ask` and the Turtle export/import round trip through the CLI."""

from __future__ import annotations

import json
import shutil

import pytest

from services.cli import main

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def graph_home(quick_home, tmp_path_factory):
    from experts.core.assets import smollm_path
    from experts.core.paths import Paths
    from ontology_gnn.graph_llm import load_llm
    from ontology_gnn.pipeline import build_encoder, build_graph_llm

    home = tmp_path_factory.mktemp("graph") / "home"
    shutil.copytree(quick_home, home)
    mp = pytest.MonkeyPatch()
    mp.setenv("TINYEXPERTS_HOME", str(home))
    paths = Paths(home)
    enc = build_encoder(paths, quick=True, progress=False, log=lambda *_: None)
    llm = load_llm(smollm_path(home, fetch=True))
    g = build_graph_llm(paths, quick=True, progress=False, log=lambda *_: None, llm=llm,
                        n_per_kind=16, eval_per_kind=2)
    yield home, enc, g, llm
    mp.undo()


def test_encoder_and_graph_llm_are_registered_with_their_numbers(graph_home):
    _, enc, g, _ = graph_home
    lp = enc["link_prediction"]
    assert set(lp) == {"text-cosine", "rgcn", "text-mlp"}
    assert all(0 < v["mrr"] <= 1 and v["n"] > 1000 for v in lp.values())
    test = g["test"]
    assert test["retrieval"]["anchor_linked"] == 1.0  # every code / part number is found
    for mode in ("question", "graph"):
        assert 0.0 <= test[mode]["accuracy"] <= 1.0
    assert "text" not in test  # the text path is compared by `bench --suite llm`, not built


def test_the_subgraph_as_text_costs_many_more_prompt_tokens(graph_home):
    from experts.core.paths import Paths
    from ontology_gnn.pipeline import Answerer

    home, _, _, llm = graph_home
    answerer = Answerer.load(Paths(home), llm=llm)
    q = "My 2014 Focus shows P0420. Which component is involved?"
    sub = answerer.index.retrieve(q)
    text, graph = (answerer.gllm.prompt(q, sub, m).length for m in ("text", "graph"))
    assert len(sub.entities) > 1
    assert text > 2.5 * graph  # one soft token per entity against its facts written out


def test_ask_answers_with_the_entities_it_used_and_refuses_unknowns(graph_home, capsys):
    from experts.core.errors import TinyExpertsError
    from experts.core.paths import Paths
    from ontology_gnn.pipeline import Answerer

    home, _, _, llm = graph_home
    answerer = Answerer.load(Paths(home), llm=llm)
    r = answerer.ask("My 2014 Focus shows P0420. Which component is involved?")
    assert r["entities"][0]["id"] == "code:P0420"
    assert r["answer"] and r["new_tokens"] > 0 and r["tokens_per_s"] > 0
    assert r["prompt_tokens"] < 100
    # the answer is one of the retrieved entities (not the code asked about)
    assert r["decode"] == "choose" and r["answer"] in {e["name"] for e in r["entities"][1:]}
    assert r["latency_ms"]["prefill"] > 0
    free = answerer.ask("My 2014 Focus shows P0420. Which component is involved?",
                        decode="free", max_new_tokens=6)
    assert free["decode"] == "free" and free["latency_ms"]["prefill"] is None
    for unknown, mention in [("What does P9999 mean?", "P9999"),
                             ("Which car does ZX-48213 fit?", "ZX-48213")]:
        r = answerer.ask(unknown)
        assert r["answer"].startswith("Not in the ontology") and mention in r["answer"]
    with pytest.raises(TinyExpertsError, match="limit"):
        answerer.ask("P0420 " * 400)

    assert main(["ask", "   "]) == 2
    assert "question is empty" in capsys.readouterr().err
    assert main(["ask", "What kind of part is the thing?", "--json", "--max-new-tokens",
                 "8"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["mode"] == "graph" and out["load_seconds"] > 0


def test_turtle_export_then_import_through_the_cli(graph_home, tmp_path, capsys):
    home, *_ = graph_home
    ttl = tmp_path / "automotive.ttl"
    assert main(["ontology", "export", str(ttl), "--json"]) == 0
    exported = json.loads(capsys.readouterr().out)
    assert main(["ontology", "import", str(ttl), "--json"]) == 0
    imported = json.loads(capsys.readouterr().out)
    assert (imported["entities"], imported["triples"]) == (exported["entities"],
                                                           exported["triples"])
    assert imported["types"]["code"] > 2000  # the real OBD-II table
    bad = tmp_path / "bad.ttl"
    bad.write_text("@prefix ex: <http://e/> .\nex:a ex:b")
    assert main(["ontology", "import", str(bad)]) == 2
    assert "not valid Turtle" in capsys.readouterr().err
