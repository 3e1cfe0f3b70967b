"""An imported Turtle ontology end to end on tiny models: generic questions, the encoder and
graph-token projector built apart from the product ontology's, `ask --ontology NAME`."""

from __future__ import annotations

import pytest
import torch

from experts.core.errors import NotFoundError, TinyExpertsError
from experts.core.paths import Paths


def plant_turtle(n: int = 12) -> str:
    """A small plant: pump and fan classes under equipment, n pumps each driven by a motor
    and located in a room, motors made by one of three makers, SKOS failure concepts."""
    lines = ["@prefix rdf: <http://www.w3.org/1999/02/22-rdf-syntax-ns#> .",
             "@prefix rdfs: <http://www.w3.org/2000/01/rdf-schema#> .",
             "@prefix owl: <http://www.w3.org/2002/07/owl#> .",
             "@prefix skos: <http://www.w3.org/2004/02/skos/core#> .",
             "@prefix ex: <http://example.org/plant#> .",
             'ex:Equipment a owl:Class ; rdfs:label "Equipment" .',
             'ex:Pump a owl:Class ; rdfs:subClassOf ex:Equipment ; rdfs:label "Pump" .',
             'ex:Fan a owl:Class ; rdfs:subClassOf ex:Equipment ; rdfs:label "Fan" .',
             'ex:CentrifugalPump a owl:Class ; rdfs:subClassOf ex:Pump ; '
             'rdfs:label "Centrifugal Pump" .',
             'ex:failure a skos:Concept ; skos:prefLabel "failure" .',
             'ex:leak a skos:Concept ; skos:prefLabel "seal leak" ; skos:broader ex:failure .',
             'ex:wear a skos:Concept ; skos:prefLabel "bearing wear" ; '
             'skos:broader ex:failure .']
    makers = ["Northwind Motors", "Helix Drives", "Orbital Electric"]
    for i, m in enumerate(makers):
        lines.append(f'ex:maker{i} a ex:Maker ; rdfs:label "{m}" .')
    for i in range(n):
        lines += [f'ex:pump{i} a ex:CentrifugalPump ; rdfs:label "pump PX-{100 + i}" ; '
                  f'ex:drivenBy ex:motor{i} ; ex:locatedIn ex:room{i % 4} ; '
                  f'ex:failsBy ex:{"leak" if i % 2 else "wear"} .',
                  f'ex:motor{i} a ex:Motor ; rdfs:label "motor MX-{200 + i}" ; '
                  f'ex:madeBy ex:maker{i % 3} .']
    for r in range(4):
        lines.append(f'ex:room{r} a ex:Room ; rdfs:label "plant room {r + 1}" .')
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def ttl(tmp_path_factory):
    path = tmp_path_factory.mktemp("onto") / "Plant.ttl"
    path.write_text(plant_turtle())
    return path


def test_generic_questions_cover_every_kind_with_gold_from_the_graph(ttl):
    from ontology_gnn.generic_qa import GENERIC_KINDS, generate_generic_qa, words
    from ontology_gnn.turtle import read_turtle

    kg = read_turtle(ttl)
    qa = generate_generic_qa(kg, n_per_kind=20, seed=0)
    kinds = {q.kind for q in qa["train"] + qa["test"]}
    assert kinds == set(GENERIC_KINDS)
    assert not {q.anchor for q in qa["train"]} & {q.anchor for q in qa["test"]}
    name = {e.id: e.name for e in kg.entities}
    facts = {(name[s], r, name[t]) for s, r, t in kg.triples}
    for q in qa["train"] + qa["test"]:
        anchor = name[q.anchor]
        assert anchor in q.question and q.answer in q.gold
        if q.kind == "relation":
            assert all(any((anchor, r, g) in facts for r in ("drivenBy", "locatedIn",
                                                               "failsBy", "madeBy"))
                       for g in q.gold), q
        if q.kind == "type":
            assert all((anchor, r, g) in facts for g in q.gold
                       for r in ("subclass_of", "broader") if (anchor, r, g) in facts)
            assert any((anchor, "subclass_of", g) in facts or (anchor, "broader", g) in facts
                       for g in q.gold), q
        if q.kind == "inverse":
            assert all(any((g, r, anchor) in facts for r in {f[1] for f in facts})
                       for g in q.gold), q
    assert words("hasAssociatedTag") == "has associated tag"
    assert words("subclass_of") == "subclass of"
    # the same seed gives the same questions; another seed other ones
    assert [q.question for q in generate_generic_qa(kg, 20, seed=0)["test"]] == \
        [q.question for q in qa["test"]]
    assert [q.question for q in generate_generic_qa(kg, 20, seed=1)["test"]] != \
        [q.question for q in qa["test"]]


@pytest.fixture(scope="module")
def tiny_models(tokenizer):
    from transformers import BertModel, LlamaConfig, LlamaForCausalLM

    from experts.model import tiny_encoder_config
    from ontology_gnn.graph_llm import freeze

    torch.manual_seed(0)
    llm = freeze(LlamaForCausalLM(LlamaConfig(
        vocab_size=tokenizer.vocab_size, hidden_size=32, intermediate_size=64,
        num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
        max_position_embeddings=512, initializer_range=0.3)))
    text = BertModel(tiny_encoder_config(tokenizer.vocab_size)).eval()
    return (llm, tokenizer), (text, tokenizer)


@pytest.fixture(scope="module")
def imported_home(tmp_path_factory, ttl, tiny_models):
    from ontology_gnn.pipeline import build_encoder, build_graph_llm
    from ontology_gnn.sources import import_file

    paths = Paths(tmp_path_factory.mktemp("home"))
    source, changed = import_file(paths, ttl, log=lambda *_: None)
    assert changed and source.name == "plant" and source.imported
    llm, text = tiny_models
    quiet = {"progress": False, "log": lambda *_: None}
    build_encoder(paths, quick=True, text_encoder=text, source=source, **quiet)
    build_graph_llm(paths, quick=True, llm=llm, source=source, n_per_kind=6, text_encoder=text,
                    eval_per_kind=2, **quiet)
    return paths


def test_an_imported_ontology_is_built_apart_and_answered_with_its_own_names(
        imported_home, tiny_models, ttl):
    from experts.core.registry import Registry
    from ontology_gnn.pipeline import ENCODER, GRAPH_LLM, Answerer
    from ontology_gnn.sources import import_file, imported_names

    paths = imported_home
    assert imported_names(paths) == ["plant"]
    assert not Registry(paths.registry).versions(ENCODER)  # the product registry is untouched
    own = Registry(paths.home / "ontologies" / "plant" / "registry")
    assert own.active(ENCODER) == "v1" and own.active(GRAPH_LLM) == "v1"
    assert own.manifest(GRAPH_LLM, "v1").data["ontology"] == "plant"
    import json

    config = json.loads((own.path(GRAPH_LLM, "v1") / "config.json").read_text())
    assert config["projector"]["roles"][0] == "anchor"  # imported graphs get role tokens
    assert "plant ontology" in config["system"]
    llm, text = tiny_models
    ans = Answerer.load(paths, llm=llm, text_encoder=text, ontology="plant")
    r = ans.ask("Which motor is pump PX-103 driven by?")
    assert "the plant ontology" in ans.gllm.system  # not the product ontology's prompt
    assert r["ontology"] == "plant" and r["decode"] == "choose"
    assert set(config["role_detector"]["roles"]) <= set(config["projector"]["roles"])
    assert ans.detector is not None and ans.detector.roles == config["role_detector"]["roles"]
    assert 1 <= r["chosen_among"] <= r["candidates"]
    assert r["entities"][0]["name"] == "pump PX-103"
    names = {e["name"] for e in r["entities"][1:]}
    assert r["answer"] in names and r["answer_entity"] in {e["id"] for e in r["entities"][1:]}
    # nothing of the plant named and no dense fallback: not in the ontology
    ans.index.encode_query = None
    r = ans.ask("Who won the 1998 football world cup?")
    assert r["answer"].startswith("Not in the ontology") and r["entities"] == []
    # importing the same file again changes nothing (no rebuild)
    assert import_file(paths, ttl, log=lambda *_: None)[1] is False


def test_unknown_or_changed_imported_ontologies_are_refused_with_the_reason(
        imported_home, tiny_models, tmp_path):
    from ontology_gnn.pipeline import Answerer
    from ontology_gnn.sources import GRAPH_FILE, load_source

    llm, text = tiny_models
    with pytest.raises(NotFoundError, match="no imported ontology named 'nope'") as err:
        Answerer.load(imported_home, llm=llm, text_encoder=text, ontology="nope")
    assert "--ontology FILE.ttl" in err.value.message
    from pathlib import Path

    from ontology_gnn.sources import name_for

    assert name_for(Path("Brick v1.1.ttl")) == "brick-v1-1"
    assert name_for(Path("automotive.ttl")) == "automotive-imported"  # not the product's
    for bad in ("../x", "Plant", "a" * 41):
        with pytest.raises(TinyExpertsError, match="bad ontology name"):
            load_source(imported_home, bad)
    # the graph file changed behind the registry's back: the encoder no longer matches
    home = Paths(tmp_path)
    kept = imported_home.home / "ontologies" / "plant"
    (tmp_path / "ontologies").mkdir()
    import shutil

    shutil.copytree(kept, tmp_path / "ontologies" / "plant")
    graph = tmp_path / "ontologies" / "plant" / GRAPH_FILE
    graph.write_text(graph.read_text() + 'ex:extra a ex:Room ; rdfs:label "annex" .\n')
    with pytest.raises(TinyExpertsError, match="ontology changed since the encoder"):
        Answerer.load(home, llm=llm, text_encoder=text, ontology="plant")


def test_a_graph_without_relations_is_refused_before_anything_trains(tmp_path):
    from services.system_build import build_imported

    ttl = tmp_path / "flat.ttl"
    ttl.write_text("@prefix ex: <http://example.org/x#> .\n"
                   + "".join(f'ex:m{i} a ex:Machine .\n' for i in range(5)))
    with pytest.raises(TinyExpertsError, match="no questions can be made") as err:
        build_imported(ttl, root=tmp_path / "home", log=lambda *_: None)
    assert str(ttl) in err.value.message and "rdfs:subClassOf" in err.value.message
    assert not (tmp_path / "home" / "ontologies" / "flat").exists()  # nothing kept


def test_the_bench_scores_the_registered_projector_and_puts_it_back(imported_home, tiny_models):
    from ontology_gnn.bench import score_seeds
    from ontology_gnn.pipeline import VARIANTS, Answerer

    llm, text = tiny_models
    ans = Answerer.load(imported_home, llm=llm, text_encoder=text, ontology="plant")
    before = {k: v.clone() for k, v in ans.gllm.projector.state_dict().items()}
    rows, per_seed, examples = score_seeds(ans, range(1), questions=8, log=lambda *_: None)
    # as served (role detector) and, beside it, the graph path choosing among every candidate
    assert [r["variant"] for r in rows] == [m for m, _ in VARIANTS] + ["graph-reader"]
    assert per_seed[0]["questions"] == 8 and 0.0 <= per_seed[0]["accuracy"] <= 1.0
    graph = next(r for r in rows if r["variant"] == "graph")
    assert per_seed[0]["accuracy"] == graph["accuracy"] and graph["invented"] == 0.0
    assert set(examples) == {0}
    for k, v in ans.gllm.projector.state_dict().items():
        assert torch.equal(v, before[k])


def test_a_graph_llm_from_before_role_detection_is_built_again(tmp_path, imported_home):
    import json
    import shutil

    from experts.core.registry import Registry
    from ontology_gnn.pipeline import GRAPH_LLM
    from services.system_build import ONTOLOGY, plan

    own = tmp_path / "registry"
    shutil.copytree(imported_home.home / "ontologies" / "plant" / "registry", own)
    reg = Registry(own)
    assert plan([ONTOLOGY], reg, quick=True, force=False, teachers_only=False) == [
        (ONTOLOGY, True)]
    src, m = reg.path(GRAPH_LLM, "v1"), reg.manifest(GRAPH_LLM, "v1")

    def older(folder):  # the same artifact as written before the role detector existed
        for f in src.iterdir():
            if f.name not in ("manifest.json", "roles.safetensors"):
                shutil.copy(f, folder / f.name)
        config = json.loads((folder / "config.json").read_text())
        del config["role_detector"]
        (folder / "config.json").write_text(json.dumps(config))

    reg.register(GRAPH_LLM, older, **m.model_dump(
        exclude={"name", "version", "files", "created_at"}))
    assert plan([ONTOLOGY], reg, quick=True, force=False, teachers_only=False) == [
        (ONTOLOGY, False)]


def test_a_common_word_that_names_an_entity_does_not_make_a_question_on_topic(
        imported_home, tiny_models):
    from ontology_gnn.pipeline import Answerer

    llm, text = tiny_models
    ans = Answerer.load(imported_home, llm=llm, text_encoder=text, ontology="plant")
    ix = ans.index
    assert {"pump", "equipment", "driven", "centrifugal", "drivenby"} <= ix.terms
    # "Fan" (an entity) as a common word: one of five content words is the ontology's
    off = ix.retrieve("Which football fan club won the cup in Lisbon?")
    assert off.entities == [] and off.off_topic == ["Fan"]
    r = ans.ask("Which football fan club won the cup in Lisbon?")
    assert r["answer"] == ("Not in the ontology: the question uses Fan but is not about the "
                           "ontology.") and r["grounded"] is False
    # the same one-word name in a question about the plant
    on = ix.retrieve("Which equipment class is Fan a subclass of?")
    assert "Fan" in [ix.kg.entity(a).name for a in on.anchors] and not on.off_topic
    # a several-word name, or any other link, is enough whatever the other words
    many = ix.retrieve("Tell me a joke about the centrifugal pump and my holiday in Lisbon")
    assert [ix.kg.entity(a).name for a in many.anchors] == ["Centrifugal Pump"]
