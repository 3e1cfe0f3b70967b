"""Ontology graph, Turtle, link prediction, retrieval, graph tokens — on tiny models."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from experts.core.errors import TinyExpertsError
from ontology_gnn.graph import Entity, KnowledgeGraph, from_ontology, split_triples, to_hetero_data


@pytest.fixture(scope="module")
def kg(small_ontology):
    return from_ontology(small_ontology)


@pytest.fixture(scope="module")
def features(kg):
    torch.manual_seed(0)
    return torch.randn(len(kg.entities), 16)


# ---- HeteroData ------------------------------------------------------------------------

def test_hetero_data_has_every_type_relation_and_its_reverse(kg, features):
    data, gi = to_hetero_data(kg, features)
    counts = {}
    for e in kg.entities:
        counts[e.type] = counts.get(e.type, 0) + 1
    assert set(data.node_types) == set(counts)
    for t, n in counts.items():
        assert data[t].x.shape == (n, 16)
    for st, r, tt in kg.relations():
        fwd = data[st, r, tt].edge_index
        assert fwd.shape[1] == sum(1 for _, rr, _ in kg.triples if rr == r)
        assert torch.equal(data[tt, f"rev_{r}", st].edge_index, fwd.flip(0))
    # one known edge lands on the right rows, with the right features
    sub = next(t for s, r, t in kg.triples if s == "code:P0171" and r == "in_subsystem")
    i, j = gi.ids["code"].index("code:P0171"), gi.ids["subsystem"].index(sub)
    ei = data["code", "in_subsystem", "subsystem"].edge_index
    assert any(ei[0, k] == i and ei[1, k] == j for k in range(ei.shape[1]))
    assert torch.equal(data["code"].x[i], features[kg.index["code:P0171"]])


def test_split_is_disjoint_and_leaves_no_entity_without_an_edge(kg):
    train, val, test = split_triples(kg, 0.1, seed=0)
    assert not set(train) & set(val) and not set(train) & set(test) and not set(val) & set(test)
    assert sorted(train + val + test) == sorted(kg.triples)
    assert val and test
    touched = {s for s, _, _ in train} | {t for _, _, t in train}
    every = {s for s, _, _ in kg.triples} | {t for _, _, t in kg.triples}
    assert touched == every


def test_knowledge_graph_refuses_unknown_entities():
    with pytest.raises(TinyExpertsError, match="unknown entity 'b'"):
        KnowledgeGraph("x", [Entity("a", "t", "A", "A")], [("a", "r", "b")])


# ---- Turtle ----------------------------------------------------------------------------

def test_turtle_round_trip_is_exact(kg, tmp_path):
    from ontology_gnn.turtle import read_turtle, write_turtle

    back = read_turtle(write_turtle(kg, tmp_path / "o.ttl"))
    assert sorted(back.entities, key=lambda e: e.id) == sorted(kg.entities, key=lambda e: e.id)
    assert back.triples == sorted(set(kg.triples))


SKOS_OWL = """
@prefix rdf: <http://www.w3.org/1999/02/22-rdf-syntax-ns#> .
@prefix rdfs: <http://www.w3.org/2000/01/rdf-schema#> .
@prefix owl: <http://www.w3.org/2002/07/owl#> .
@prefix skos: <http://www.w3.org/2004/02/skos/core#> .
@prefix ex: <http://example.org/plant#> .

ex:Pump a owl:Class ; rdfs:label "pump" .
ex:CentrifugalPump a owl:Class ; rdfs:subClassOf ex:Pump ; rdfs:comment "a rotodynamic pump" .
ex:drives a owl:ObjectProperty .
ex:p101 a ex:CentrifugalPump ; rdfs:label "P-101" ; ex:drives ex:m7 .
ex:m7 a ex:Motor ; rdfs:label "motor 7" .
ex:leak a skos:Concept ; skos:prefLabel "leak" ; skos:broader ex:failure .
ex:failure a skos:Concept ; skos:prefLabel "failure" ; skos:narrower ex:wear .
ex:wear a skos:Concept ; skos:prefLabel "wear" .
"""


def test_turtle_import_reads_owl_classes_skos_concepts_and_object_properties(tmp_path):
    from ontology_gnn.turtle import read_turtle

    path = tmp_path / "plant.ttl"
    path.write_text(SKOS_OWL)
    kg = read_turtle(path)
    by_name = {e.name: e for e in kg.entities}
    assert by_name["P-101"].type == "CentrifugalPump"
    assert by_name["motor 7"].type == "Motor"
    assert by_name["pump"].type == "class" and by_name["leak"].type == "concept"
    assert by_name["CentrifugalPump"].text == "a rotodynamic pump"
    ex = "http://example.org/plant#"
    assert set(kg.triples) == {
        (ex + "CentrifugalPump", "subclass_of", ex + "Pump"),
        (ex + "p101", "drives", ex + "m7"),
        (ex + "leak", "broader", ex + "failure"),
        (ex + "wear", "broader", ex + "failure"),  # narrower, reversed
    }


@pytest.mark.parametrize("text", ["ex:a ex:b", "@prefix ex: <http://e/> .\nex:a ex:b ex:c",
                                  "not turtle at all {"])
def test_broken_turtle_is_a_clear_error(tmp_path, text):
    from ontology_gnn.turtle import read_turtle

    path = tmp_path / "bad.ttl"
    path.write_text(text)
    with pytest.raises(TinyExpertsError) as err:
        read_turtle(path)
    assert str(path) in err.value.message and "fix:" in err.value.message


# ---- link prediction -------------------------------------------------------------------

def test_rank_metrics_on_known_scores():
    from ontology_gnn.encoder import rank_metrics

    ents = [Entity("h", "a", "h", "h")] + [Entity(f"t{i}", "b", f"t{i}", "") for i in range(4)]
    kg = KnowledgeGraph("k", ents, [("h", "r", "t0"), ("h", "r", "t1"), ("h", "r", "t3")])
    z = torch.zeros(5, 1)

    def score(zs, rel, zt):  # fixed tail scores: t0 .9, t1 .8, t2 .7, t3 .1
        return torch.tensor([[0.9, 0.8, 0.7, 0.1]]).expand(zs.shape[0], 4)

    # evaluating t3 with t0/t1 known: filtered rank of t3 is 2 (only t2 above it)
    m = rank_metrics(kg, z, score, [("h", "r", "t3")], kg.triples)
    assert m["mrr"] == 0.5 and m["hits@10"] == 1.0
    # unfiltered knowledge (no other true tails) gives rank 4
    m = rank_metrics(kg, z, score, [("h", "r", "t3")], [("h", "r", "t3")])
    assert m["mrr"] == 0.25


@pytest.mark.parametrize("kind", ["rgcn", "sage", "text-mlp"])
def test_every_encoder_learns_its_training_edges(kg, features, kind):
    from ontology_gnn.encoder import EncoderConfig, model_scorer, rank_metrics, train_link_model

    train, _, _ = split_triples(kg, 0.1)
    asked = [tr for tr in train if tr[1] in ("is_a", "made_by", "affects")]

    def mrr(epochs):
        cfg = EncoderConfig(kind=kind, epochs=epochs, hidden=32, lr=0.01)
        model = train_link_model(kg, features, train, cfg, log=lambda *_: None)
        z = model.embed(kg, features)
        assert z.shape == (len(kg.entities), 32) and torch.isfinite(z).all()
        return rank_metrics(kg, z, model_scorer(model), asked, kg.triples)["mrr"]

    untrained, trained = mrr(0), mrr(80)
    assert trained > untrained + 0.15, (untrained, trained)


# ---- retrieval -------------------------------------------------------------------------

@pytest.fixture(scope="module")
def index(small_ontology, kg, features):
    from ontology_gnn.sources import GraphSource

    table = torch.cat([torch.zeros(len(kg.entities), 4), features], 1)
    source = GraphSource("automotive", kg, Path("registry"), "", "", small_ontology)
    return source.index(table, 16,
                        encode_query=lambda q: features[kg.index["component:oxygen_sensor"]])


def test_retrieval_links_codes_part_numbers_names_and_vehicles(small_ontology, index):
    product = small_ontology.by_type("product")[3]
    links, unknown = index.link(f"Does {product.attrs['part_number']} fit? P0171 and P9999 "
                                "came up; maybe the catalytic converter. It is a 2012 Civic.")
    got = {lk.entity_id: lk.how for lk in links}
    assert got[product.id] == "part_number"
    assert got["code:P0171"] == "code"
    assert got["component:catalytic_converter"] == "name"
    assert any(v.startswith("vehicle:honda_civic_2012") for v in got)
    assert unknown == ["P9999"]


def test_retrieval_reads_a_part_number_typed_with_an_en_dash(small_ontology, index):
    product = next(p for p in small_ontology.by_type("product")
                   if "-" in p.attrs["part_number"])
    dashed = product.attrs["part_number"].replace("-", "\u2013")
    links, unknown = index.link(f"Who makes \u201c{dashed}\u201d?")
    assert [lk.entity_id for lk in links if lk.how == "part_number"] == [product.id]
    assert unknown == []


def test_dense_fallback_finds_the_planted_entity(index):
    links, _ = index.link("the thing that measures exhaust oxygen")
    assert links and links[0].entity_id == "component:oxygen_sensor" and links[0].how == "dense"


def test_similar_entities_come_from_the_graph_vectors(kg, features):
    from ontology_gnn.retrieve import EntityIndex

    gv = torch.randn(len(kg.entities), 8)
    a, b = kg.index["code:P0171"], kg.index["code:P0172"]
    gv[b] = gv[a] * 2 + 0.01  # planted: P0172 points the same way as P0171
    idx = EntityIndex(kg, features, graph_vectors=gv)
    near = idx.similar("code:P0171", k=2)
    assert near[0].entity_id == "code:P0172" and near[0].how == "graph"
    assert all(kg.entity(lk.entity_id).type == "code" for lk in near)
    assert "code:P0171" not in [lk.entity_id for lk in near]


def test_subgraph_is_capped_and_reaches_two_hops(small_ontology, kg, index):
    sub = index.subgraph(["code:P0420"])
    assert sub.entities[0] == "code:P0420" and len(sub.entities) <= index.max_entities
    assert "component:catalytic_converter" in sub.entities  # hop 1: affects
    assert any(kg.entity(e).type == "part_category" for e in sub.entities)  # hop 2
    inside = set(sub.entities)
    assert all(s in inside and t in inside for s, _, t in sub.triples)
    index.max_entities, old = 3, index.max_entities
    try:
        assert len(index.subgraph(["code:P0420"]).entities) == 3
    finally:
        index.max_entities = old


def test_hub_relations_are_not_expanded(kg, features):
    from ontology_gnn.retrieve import EntityIndex

    idx = EntityIndex(kg, features, hub_degree=2)
    sub = idx.subgraph(["code:P0171"])
    subsystem = next(t for s, r, t in kg.triples if s == "code:P0171" and r == "in_subsystem")
    assert subsystem in sub.entities
    # the subsystem has more than 2 codes: none of its other codes is pulled in
    assert not any(kg.entity(e).type == "code" for e in sub.entities[1:])


# ---- QA --------------------------------------------------------------------------------

def test_qa_splits_are_disjoint_by_entity_and_gold_comes_from_the_graph(small_ontology):
    from ontology_gnn.qa import KINDS, generate_qa, is_correct

    qa = generate_qa(small_ontology, n_per_kind=30, test_fraction=0.3, seed=1)
    assert {q.anchor for q in qa["train"]}.isdisjoint({q.anchor for q in qa["test"]})
    assert {q.kind for q in qa["train"]} == set(KINDS)
    q = next(q for q in qa["train"] + qa["test"] if q.anchor == "code:P0420"
             and q.kind == "code_component") if any(
        q.anchor == "code:P0420" and q.kind == "code_component"
        for q in qa["train"] + qa["test"]) else None
    if q is not None:
        assert "catalytic converter" in q.gold
    for q in qa["train"]:
        assert q.answer and is_correct(q.answer, q.gold)
    assert is_correct("It is the Catalytic Converter.", ["catalytic converter"])
    assert not is_correct("an oxygen sensor", ["catalytic converter"])


# ---- graph tokens on a tiny random causal LM --------------------------------------------

@pytest.fixture(scope="module")
def tiny_gllm(kg, features, tokenizer):
    from transformers import LlamaConfig, LlamaForCausalLM

    from ontology_gnn.graph_llm import GraphLLM, GraphTokenProjector, ProjectorConfig, freeze
    from ontology_gnn.pipeline import entity_types
    from ontology_gnn.retrieve import role_vocabulary

    torch.manual_seed(0)
    cfg = LlamaConfig(vocab_size=tokenizer.vocab_size, hidden_size=32, intermediate_size=64,
                      num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                      max_position_embeddings=256, initializer_range=0.3)
    llm = freeze(LlamaForCausalLM(cfg))
    types, type_ids = entity_types(kg)
    proj = GraphTokenProjector(ProjectorConfig(in_dim=features.shape[1], out_dim=32,
                                               types=types, hidden=64,
                                               roles=role_vocabulary(kg)))
    return GraphLLM(llm, tokenizer, proj, kg, features, type_ids)


def test_prompt_modes_and_projector_shapes(tiny_gllm, index):
    sub = index.subgraph(["code:P0420"])
    g = tiny_gllm.prompt("Which component does P0420 point to?", sub, "graph")
    t = tiny_gllm.prompt("Which component does P0420 point to?", sub, "text")
    q = tiny_gllm.prompt("Which component does P0420 point to?", sub, "question")
    assert len(g.entities) == len(sub.entities)
    assert g.length == len(g.prefix) + len(sub.entities) + len(g.suffix)
    assert q.length < g.length < t.length  # the text version spells the subgraph out
    emb = tiny_gllm._embed(g)
    assert emb.shape == (g.length, 32)
    tokens = tiny_gllm.projector(tiny_gllm.vectors[:5], tiny_gllm.types[:5])
    assert tokens.shape == (5, 32)
    with pytest.raises(ValueError, match="unknown mode"):
        tiny_gllm.prompt("x", sub, "audio")


def test_training_steps_move_only_the_projector_and_lower_the_loss(tiny_gllm, index):
    sub = index.subgraph(["code:P0420"])
    prompts = [tiny_gllm.prompt("Which component does P0420 point to?", sub, "graph")] * 4
    answers = ["catalytic converter"] * 4
    llm_before = {k: v.clone() for k, v in tiny_gllm.llm.state_dict().items()}
    opt = torch.optim.Adam(tiny_gllm.projector.parameters(), lr=0.05)
    first = tiny_gllm.loss(prompts, answers)
    for _ in range(30):
        loss = tiny_gllm.loss(prompts, answers)
        opt.zero_grad()
        loss.backward()
        opt.step()
    last = tiny_gllm.loss(prompts, answers).item()
    assert last < first.item() - 0.3, (first.item(), last)
    for k, v in tiny_gllm.llm.state_dict().items():
        assert torch.equal(v, llm_before[k]), f"frozen LLM weight {k} changed"


def test_graph_tokens_start_as_the_names_embeddings(kg, tiny_gllm, tokenizer):
    from ontology_gnn.graph_llm import GraphTokenProjector

    fresh = GraphTokenProjector(tiny_gllm.projector.cfg)
    trained, tiny_gllm.projector = tiny_gllm.projector, fresh
    try:
        row = kg.index["component:catalytic_converter"]
        token = tiny_gllm.graph_tokens(torch.tensor([row]))[0]
        ids = tokenizer(" catalytic converter", add_special_tokens=False)["input_ids"]
        want = tiny_gllm.llm.get_input_embeddings().weight[ids].mean(0)
        assert torch.allclose(token, want, atol=1e-6)
    finally:
        tiny_gllm.projector = trained


def test_graph_tokens_carry_how_each_entity_was_reached(kg, tiny_gllm, index):
    from ontology_gnn.graph_llm import GraphTokenProjector, ProjectorConfig
    from ontology_gnn.retrieve import ANCHOR, Subgraph, role_vocabulary

    sub = index.subgraph(["code:P0420"])
    assert sub.roles[0] == ANCHOR and len(sub.roles) == len(sub.entities)
    affected = {t for s, r, t in kg.triples if s == "code:P0420" and r == "affects"}
    for eid, role in zip(sub.entities[1:], sub.roles[1:], strict=True):
        assert role in role_vocabulary(kg) and role[0] in "12" and role[1] in "<>"
        if eid in affected and role.startswith("1"):
            assert role == "1>affects"
    assert affected & set(sub.entities)
    p = tiny_gllm.prompt("Which component does P0420 point to?", sub, "graph")
    assert len(p.roles) == len(p.entities) and p.roles[0] == 0
    # the same entity as anchor and as a hop-1 neighbour: different tokens once trained
    with torch.no_grad():
        tiny_gllm.projector.role_emb.weight.normal_()
    rows = torch.tensor([p.entities[1]] * 2)
    two = tiny_gllm.graph_tokens(rows, torch.tensor([0, p.roles[1]]))
    assert not torch.allclose(two[0], two[1])
    # a subgraph without roles, or a projector without a role table: entity and type only
    bare = Subgraph(sub.entities, sub.triples, sub.anchors)
    assert tiny_gllm.prompt("x?", bare, "graph").roles == []
    old = GraphTokenProjector(ProjectorConfig(in_dim=tiny_gllm.vectors.shape[1],
                                              out_dim=32, types=tiny_gllm.projector.cfg.types,
                                              hidden=64))
    assert old.role_emb is None and "role_emb.weight" not in old.state_dict()
    with torch.no_grad():
        tiny_gllm.projector.role_emb.weight.zero_()


def test_batched_generation_matches_one_by_one(tiny_gllm, index):
    prompts = [tiny_gllm.prompt(q, index.subgraph([a]), m) for q, a, m in [
        ("What does P0420 mean?", "code:P0420", "graph"),
        ("Which part is P0171 about, in a long and winding question?", "code:P0171", "text"),
        ("Who makes it?", "code:P0301", "question")]]
    together = [r["answer"] for r in tiny_gllm.generate(prompts, max_new_tokens=5)]
    alone = [tiny_gllm.generate([p], max_new_tokens=5)[0]["answer"] for p in prompts]
    assert together == alone


def test_answerer_refuses_bad_questions_and_says_not_in_the_ontology(tiny_gllm, index):
    from ontology_gnn.pipeline import Answerer

    ans = Answerer(tiny_gllm, index, {})
    for bad in ["", "   ", "x" * 5000]:
        with pytest.raises(TinyExpertsError):
            ans.ask(bad)
    with pytest.raises(TinyExpertsError, match="unknown mode"):
        ans.ask("P0420?", mode="telepathy")
    index.encode_query, old = None, index.encode_query
    try:
        r = ans.ask("What does P9999 mean?")
    finally:
        index.encode_query = old
    assert r["answer"].startswith("Not in the ontology") and "P9999" in r["answer"]
    assert r["entities"] == [] and r["new_tokens"] == 0
    r = ans.ask("What does P0420 mean?", max_new_tokens=3)
    assert r["entities"][0]["id"] == "code:P0420" and r["prompt_tokens"] > 0


# ---- answers chosen among the candidates, grounding ---------------------------------------

def test_candidate_trie_lists_the_allowed_tokens_and_the_branch_points():
    from ontology_gnn.answer_choice import CandidateTrie

    trie = CandidateTrie([[1, 2, 9], [1, 3, 9], [4, 9]])
    assert trie.allowed([]) == [1, 4] and trie.allowed([1]) == [2, 3]
    assert trie.matching([1]) == [0, 1] and trie.allowed([4, 9]) == []
    assert trie.branch_points([1, 3, 9]) == [(0, [1, 4]), (1, [2, 3])]
    assert trie.branch_points([4, 9]) == [(0, [1, 4])]


def _reference_choice(g, prompt, names):
    """Constrained greedy decoding the slow way: a full forward per token, no cache."""
    from ontology_gnn.answer_choice import CandidateTrie

    trie = CandidateTrie([g.answer_ids(n) for n in names])
    chosen: list[int] = []
    with torch.inference_mode():
        while len(trie.matching(chosen)) > 1:
            allowed = trie.allowed(chosen)
            x = g._embed(prompt, chosen)[None]
            logits = g.llm(inputs_embeds=x).logits[0, -1]
            chosen.append(allowed[int(torch.argmax(logits[allowed]))])
    return trie.matching(chosen)[0]


def test_choose_answers_with_a_candidate_name_as_decoding_token_by_token_would(
        tiny_gllm, index, kg):
    from ontology_gnn.answer_choice import candidate_names

    for anchor, question in [("code:P0420", "Which component does P0420 point to?"),
                             ("code:P0171", "What area is P0171 in?"),
                             ("code:P0301", "Which parts should I buy for P0301?")]:
        sub = index.subgraph([anchor])
        cands = candidate_names(kg, sub)
        assert cands and all(e not in sub.anchors for e, _ in cands)
        names = [n for _, n in cands]
        # names sharing their first tokens make the decoder branch later
        names += [names[0] + " assembly", names[0] + " kit"]
        prompt = tiny_gllm.prompt(question, sub, "graph")
        r = tiny_gllm.choose(prompt, names)
        assert r["answer"] in names and r["choice"] == _reference_choice(tiny_gllm, prompt, names)
        assert r["prompt_tokens"] == prompt.length and r["prefill_s"] > 0
    with pytest.raises(ValueError):
        tiny_gllm.choose(prompt, [])


def test_training_reads_the_fixed_prefix_from_a_cache_with_the_same_loss_and_gradients(
        tiny_gllm, index, kg, monkeypatch):
    from ontology_gnn.answer_choice import candidate_names

    sub = index.subgraph(["code:P0420"])
    names = [n for _, n in candidate_names(kg, sub)]
    prompts = [tiny_gllm.prompt(q, sub, "graph") for q in
               ("Which component does P0420 point to?", "P0420: which part?")]
    answers = [names[0], names[-1]]  # different lengths: right padding in the batch
    assert tiny_gllm._cached_prefix(prompts) == len(tiny_gllm.fixed_ids) > 0

    def loss_and_grads():
        tiny_gllm.projector.zero_grad()
        loss = tiny_gllm.loss(prompts, answers, [names, names])
        loss.backward()
        return loss.item(), [p.grad.clone() for p in tiny_gllm.projector.parameters()
                             if p.grad is not None]

    cached, g_cached = loss_and_grads()
    monkeypatch.setattr(tiny_gllm, "_cached_prefix", lambda prompts: 0)
    full, g_full = loss_and_grads()
    assert cached == pytest.approx(full, rel=1e-5)
    assert len(g_cached) == len(g_full) > 0
    assert all(torch.allclose(a, b, rtol=1e-4, atol=1e-6)
               for a, b in zip(g_cached, g_full, strict=True))
    tiny_gllm.projector.zero_grad()


def test_the_choice_loss_teaches_the_decoder_to_pick_the_gold_name(tiny_gllm, index, kg):
    from ontology_gnn.answer_choice import candidate_names
    from ontology_gnn.graph_llm import GraphTokenProjector

    sub = index.subgraph(["code:P0420"])
    names = [n for _, n in candidate_names(kg, sub)]
    prompt = tiny_gllm.prompt("Which component does P0420 point to?", sub, "graph")
    before = tiny_gllm.choose(prompt, names)["answer"]
    gold = next(n for n in names if n != before)  # a name the untrained decoder does not pick
    trained, tiny_gllm.projector = tiny_gllm.projector, GraphTokenProjector(
        tiny_gllm.projector.cfg)
    try:
        plain = tiny_gllm.loss([prompt], [gold]).item()
        both = tiny_gllm.loss([prompt], [gold], [names]).item()
        assert both > plain  # the choice term is added (and is positive)
        opt = torch.optim.Adam(tiny_gllm.projector.parameters(), lr=0.05)
        for _ in range(40):
            loss = tiny_gllm.loss([prompt], [gold], [names])
            opt.zero_grad()
            loss.backward()
            opt.step()
        assert tiny_gllm.choose(prompt, names)["answer"] == gold
    finally:
        tiny_gllm.projector = trained


def test_unknown_part_numbers_and_vehicles_are_not_guessed(small_ontology, index):
    pn = small_ontology.by_type("product")[0].attrs["part_number"]
    links, unknown = index.link(f"Who makes part {pn}?")
    assert links and not unknown
    for question, mention in [("Who makes part ZX-48213?", "ZX-48213"),
                              ("Which car does 0242999991 fit?", "0242999991"),
                              ("Which spark plugs fit a 2011 Honda Zephyrine?",
                               "2011 Honda Zephyrine")]:
        links, unknown = index.link(question)
        assert unknown == [mention], question
        sub = index.retrieve(question)  # a category name beside an unknown subject: no guess
        assert sub.entities == [] and sub.unknown == [mention]
    # years, engine sizes and oil grades are not part numbers
    assert index.unknown_mentions("5W-30 for a 2012 Civic 1.8L, 2014") == []


def test_grounding_sets_name_nothing_the_ontology_holds(small_ontology):
    from ontology_gnn.grounding import (
        OUT_OF_DOMAIN,
        entity_names,
        invented,
        is_refusal,
        unknown_questions,
    )

    names = entity_names(small_ontology)
    qs = unknown_questions(small_ontology, 30, seed=3)
    assert {q["kind"] for q in qs} == {"code", "part_number", "vehicle"} and len(qs) == 30
    for q in qs:
        assert q["mention"] in q["question"] and q["mention"].lower() not in names
    assert len(OUT_OF_DOMAIN) >= 40
    assert invented("a flux capacitor", names) and not invented("the catalytic converter",
                                                                names)
    assert is_refusal("Not in the ontology: P9999 is not in the ontology.")
    assert not invented("Not in the ontology: X.", names)
    assert not invented("CO.", ["co", "carbon monoxide"])  # a short name, whole
    assert invented("a cobalt widget", ["co"])  # not inside another word


def test_ask_chooses_by_default_and_writes_freely_when_told(tiny_gllm, index):
    from ontology_gnn.pipeline import Answerer

    ans = Answerer(tiny_gllm, index, {})
    r = ans.ask("Which component does P0420 point to?")
    names = {e["name"] for e in r["entities"][1:]}
    assert r["decode"] == "choose" and r["answer"] in names and r["candidates"] >= 1
    assert r["latency_ms"]["prefill"] is not None
    r = ans.ask("Which component does P0420 point to?", decode="free", max_new_tokens=3)
    assert r["decode"] == "free" and r["latency_ms"]["prefill"] is None
    r = ans.ask("Which component does P0420 point to?", mode="question", max_new_tokens=3)
    assert r["decode"] == "free"  # nothing to choose from without the graph
    with pytest.raises(TinyExpertsError, match="unknown decoding"):
        ans.ask("P0420?", decode="beam")


def test_the_text_path_trains_its_lora_factors_on_the_same_loop(kg, features, tokenizer,
                                                                 index):
    from transformers import LlamaConfig, LlamaForCausalLM

    from ontology_gnn.answer_choice import candidate_names
    from ontology_gnn.graph_llm import (
        GraphLLM,
        GraphTokenProjector,
        ProjectorConfig,
        ProjectorTrainConfig,
        add_text_lora,
        freeze,
        train_projector,
    )
    from ontology_gnn.pipeline import entity_types

    torch.manual_seed(1)
    cfg = LlamaConfig(vocab_size=tokenizer.vocab_size, hidden_size=32, intermediate_size=64,
                      num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                      max_position_embeddings=512, initializer_range=0.3)
    llm = freeze(LlamaForCausalLM(cfg))
    before = {k: v.clone() for k, v in llm.state_dict().items()}
    params = add_text_lora(llm, rank=4)
    assert params and all(p.requires_grad for p in params)
    types, type_ids = entity_types(kg)
    g = GraphLLM(llm, tokenizer, GraphTokenProjector(ProjectorConfig(
        in_dim=features.shape[1], out_dim=32, types=types, hidden=64)), kg, features, type_ids)
    sub = index.subgraph(["code:P0420"])
    names = [n for _, n in candidate_names(kg, sub)]
    prompt = g.prompt("Which component does P0420 point to?", sub, "text")
    first = g.loss([prompt], [names[-1]], [names]).item()
    report = train_projector(g, [(prompt, names[-1], names)] * 32,
                             ProjectorTrainConfig(epochs=3, batch=8, lr=0.02), progress=False,
                             log=lambda *_: None, params=params, what="text LoRA")
    assert report["steps"] == 12 and g.loss([prompt], [names[-1]], [names]).item() < first
    assert g.choose(prompt, names)["answer"] == names[-1]
    after = llm.state_dict()
    for k, v in before.items():  # only the LoRA factors moved
        assert torch.equal(v, after[k.replace("q_proj.weight", "q_proj.base_layer.weight")
                                      .replace("k_proj.weight", "k_proj.base_layer.weight")
                                      .replace("v_proj.weight", "v_proj.base_layer.weight")
                                      .replace("o_proj.weight", "o_proj.base_layer.weight")]), k


def test_branch_rows_cover_every_branch_point_with_the_fewest_tokens():
    from ontology_gnn.answer_choice import CandidateTrie

    # "a b <e>", "a b c <e>", "a d <e>": branches after (a,) and (a, b)
    trie = CandidateTrie([[1, 2, 9], [1, 2, 3, 9], [1, 4, 9], [5, 9]])
    assert trie.branch_rows([1]) == [(1, 2)]
    assert trie.branch_rows([5]) == [] and trie.branch_rows([1, 4]) == []
    trie = CandidateTrie([[1, 2, 3, 9], [1, 2, 4, 9], [1, 6, 7, 9], [1, 6, 8, 9]])
    assert trie.branch_rows([1]) == [(1, 2), (1, 6)]


def test_an_answer_is_right_only_when_it_names_the_gold_entity_as_whole_words():
    from ontology_gnn.qa import is_correct

    assert is_correct("It is the Catalytic Converter.", ["catalytic converter"])
    assert is_correct("2006 Honda Civic 1.8L I4", ["Civic"])
    assert not is_correct("catalytic converters", ["catalytic converter"])
    assert not is_correct("Civics", ["Civic"]) and not is_correct("", ["Civic"])


def test_ask_chooses_among_the_candidates_of_the_role_the_detector_reads(tiny_gllm, index):
    from ontology_gnn.answer_choice import RoleDetector
    from ontology_gnn.pipeline import Answerer

    q = "Which component does P0420 point to?"
    sub = index.retrieve(q)
    roles = dict(zip(sub.entities, sub.roles, strict=True))
    others = [e for e in sub.entities if e not in sub.anchors]
    want = roles[others[-1]]  # the role of the last candidate, whatever the LLM prefers
    kept = {tiny_gllm.kg.entity(e).name for e in others if roles[e] == want}
    # a detector sure of `want` whatever the question: bias only
    table = sorted({*sub.roles})
    det = RoleDetector(table, torch.zeros(len(table), 4),
                       torch.tensor([8.0 if r == want else 0.0 for r in table]),
                       encode=lambda texts: torch.zeros(len(texts), 4))
    r = Answerer(tiny_gllm, index, {}, detector=det).ask(q)
    assert r["answer"] in kept and r["chosen_among"] == len(kept) < r["candidates"]
    assert r["latency_ms"]["detect"] is not None
    plain = Answerer(tiny_gllm, index, {}).ask(q)
    assert plain["chosen_among"] == plain["candidates"]  # no detector: every candidate
