"""Specialization on tiny random experts: every step on every task kind, structural
surgery that reloads from its artifact, both int8 backends, the beta sweep's shared start,
the quality gate and recipe validation."""

from __future__ import annotations

import copy
import shutil
from pathlib import Path

import pytest
import torch
import yaml

from experts import structure as st
from experts.artifact import load_expert_model, save_quantized
from experts.core.errors import TinyExpertsError
from experts.core.paths import Paths
from experts.core.registry import Registry
from experts.data.datasets import load_expert_data
from experts.encoding import encode, model_inputs
from experts.model import ExpertModel, HeadConfig, tiny_encoder_config
from experts.predictor import load_predictor
from experts.specialize.importance import unit_scores
from experts.specialize.recipe import Recipe, load_recipe, validate_against
from experts.specialize.steps import STEPS, StepContext
from experts.specs import get_spec

KIND_OF = {"category": "classify", "attributes": "tag", "compatibility": "pair"}


def _inputs(tokenizer, kind, n=4, pad=True):
    from experts.data.formats import PairExample, TagExample, TextExample

    texts = ["Bosch 0242236541 spark plug", "NGK iridium plug for 2012 Civic",
             "Denso oxygen sensor", "battery"][:n]
    if kind == "pair":
        ex = [PairExample(t, "2013 Honda Civic 1.8L", "") for t in texts]
    elif kind == "tag":
        ex = [TagExample(tuple(t.split()), tuple("O" for _ in t.split())) for t in texts]
    else:
        ex = [TextExample(t, "") for t in texts]
    return model_inputs(encode(tokenizer, kind, ex, 48))


def _tiny(kind, labels=5, seed=0, vocab=30522):
    torch.manual_seed(seed)
    return ExpertModel(tiny_encoder_config(vocab), HeadConfig(kind, labels, 48)).eval()


# ---- structural surgery -----------------------------------------------------------------

def test_removing_a_head_equals_masking_its_output(tokenizer):
    """Cut head 2 of layer 0 == the unpruned model with that head's context zeroed."""
    model = _tiny("classify")
    x = _inputs(tokenizer, "classify")
    d = st.head_size(model)

    def zero_head(_m, args):
        ctx = args[0].clone()
        ctx[..., 2 * d: 3 * d] = 0
        return (ctx,)

    h = st.layers(model)[0].attention.output.dense.register_forward_pre_hook(zero_head)
    with torch.no_grad():
        masked = model(**x)
    h.remove()
    pruned = copy.deepcopy(model)
    st.keep_heads(pruned, 0, [0, 1, 3])
    with torch.no_grad():
        assert torch.allclose(pruned(**x), masked, atol=1e-5)
        assert not torch.allclose(model(**x), masked, atol=1e-5)  # the head did matter


@pytest.mark.parametrize("kind", ["classify", "tag", "pair"])
def test_pruned_model_reloads_from_its_artifact(kind, tokenizer, tmp_path):
    model = _tiny(kind)
    x = _inputs(tokenizer, kind)
    st.keep_heads(model, 0, [1, 3])
    st.keep_heads(model, 1, [0])
    st.keep_neurons(model, 1, list(range(0, 128, 4)))
    used = sorted({int(i) for i in x["input_ids"].flatten()})
    st.keep_vocab(model, used, tokenizer.unk_token_id)
    with torch.no_grad():
        ref = model(**x)
    model.save(tmp_path)
    again = load_expert_model(tmp_path)
    assert st.structure(again) == {"heads": [2, 1], "ffn": [128, 32],
                                   "tokenizer_vocab": tokenizer.vocab_size,
                                   "vocab_owner": True}
    assert again.encoder.embeddings.word_embeddings.num_embeddings == len(
        set(used) | {tokenizer.unk_token_id})
    with torch.no_grad():
        assert torch.equal(again(**x), ref)
    assert torch.equal(again.vocab_owner, model.vocab_owner)


def test_pruned_vocabulary_reads_unseen_words_as_their_nearest_kept_word(tokenizer):
    """A word the domain corpus never used reads the kept row most like its own embedding
    (not [UNK]); kept words keep their own rows."""
    model = _tiny("classify")
    table = model.encoder.embeddings.word_embeddings.weight.data
    kept = tokenizer.convert_tokens_to_ids(["brake", "pad", "rotor", "spark"])
    unseen = tokenizer.convert_tokens_to_ids("elephant")
    assert unseen != tokenizer.unk_token_id
    # make "elephant" a near-copy of "rotor", far from the rest
    table[unseen] = table[kept[2]] + 0.01 * torch.randn(table.shape[1])
    st.keep_vocab(model, [*tokenizer.all_special_ids, *kept], tokenizer.unk_token_id)
    rotor_row = int(model.vocab_map[kept[2]])
    assert int(model.vocab_map[unseen]) == rotor_row != int(
        model.vocab_map[tokenizer.unk_token_id])
    assert int(model.vocab_owner[rotor_row]) == kept[2]
    assert st.borrowed_ids(model, [unseen, *kept], tokenizer.unk_token_id) == [unseen]
    rows = model.vocab_map[torch.tensor(kept)].tolist()
    assert len(set(rows)) == len(kept)  # every kept word has a row of its own


def test_artifacts_pruned_to_unk_still_extend(tokenizer):
    """Models pruned before nearest-row mapping (no vocab_owner; unused ids read [UNK]) still
    know which ids lack a row."""
    model = _tiny("classify")
    kept = tokenizer.convert_tokens_to_ids(["brake", "pad"])
    st.keep_vocab(model, [*tokenizer.all_special_ids, *kept], tokenizer.unk_token_id)
    unk_row = int(model.vocab_map[tokenizer.unk_token_id])
    unseen = tokenizer.convert_tokens_to_ids("elephant")
    model.vocab_map[unseen] = unk_row
    model.vocab_owner = None
    assert st.borrowed_ids(model, [unseen, *kept], tokenizer.unk_token_id) == [unseen]


def test_dropping_layers_reloads(tokenizer, tmp_path):
    model = _tiny("classify")
    st.keep_layers(model, [1])
    model.save(tmp_path)
    x = _inputs(tokenizer, "classify")
    again = load_expert_model(tmp_path)
    assert again.encoder.config.num_hidden_layers == 1
    with torch.no_grad():
        assert torch.equal(again(**x), model(**x))


@pytest.mark.parametrize("backend", ["torch-int8", "onnx-int8"])
@pytest.mark.parametrize("kind", ["classify", "tag"])
def test_int8_backends_save_reload_and_stay_close(backend, kind, tokenizer, tmp_path):
    model = _tiny(kind)
    st.keep_heads(model, 0, [0, 2])  # quantization must cope with pruned shapes
    x = _inputs(tokenizer, kind)
    # a padded row as well: the exported graph must honour the attention mask
    x["attention_mask"][3, 2:] = 0
    with torch.no_grad():
        ref = model(**x)
    fp32_dir = tmp_path / "fp32"
    model.save(fp32_dir)
    q = save_quantized(model, backend, tmp_path / backend)
    again = load_expert_model(tmp_path / backend)
    out = again(**x)
    assert torch.equal(out, q(**x))  # the runtime loads exactly what was measured
    rel = (out - ref).abs().max() / ref.abs().max()
    assert rel < 0.05, f"{backend}: relative error {rel:.3f}"
    weights = {"torch-int8": "model.safetensors", "onnx-int8": "model.onnx"}[backend]
    assert (tmp_path / backend / weights).stat().st_size < 0.5 * (
        fp32_dir / "model.safetensors").stat().st_size
    assert again.num_params() == model.num_params()
    import json
    assert json.loads((tmp_path / backend / "config.json").read_text())["backend"] == backend


@pytest.mark.parametrize("backend", ["torch-int8", "onnx-int8"])
def test_int8_can_keep_the_word_embeddings_fp32(backend, tokenizer, tmp_path):
    import onnx
    from onnx import numpy_helper

    model = _tiny("tag")
    emb = model.encoder.embeddings.word_embeddings.weight.detach()
    save_quantized(model, backend, tmp_path / "int8")
    save_quantized(model, backend, tmp_path / "fp32", embeddings="fp32")

    def embedding_rows(folder):  # the word embeddings as stored, if stored in float32
        if backend == "torch-int8":
            return load_expert_model(folder).encoder.embeddings.word_embeddings.weight.detach()
        graph = onnx.load(str(folder / "model.onnx")).graph
        found = [numpy_helper.to_array(t) for t in graph.initializer
                 if list(t.dims) == list(emb.shape) and t.data_type == onnx.TensorProto.FLOAT]
        return torch.from_numpy(found[0].copy()) if found else None

    assert torch.equal(embedding_rows(tmp_path / "fp32"), emb)
    int8_rows = embedding_rows(tmp_path / "int8")
    assert int8_rows is None or not torch.equal(int8_rows, emb)  # dequantized: rounded
    with pytest.raises(ValueError, match="int8 or fp32"):
        save_quantized(model, backend, tmp_path / "bad", embeddings="fp16")


def test_taylor_score_ranks_a_dead_head_lowest(tokenizer, tiny_home):
    data = load_expert_data("category", Paths(tiny_home).data)
    model = _tiny("classify", labels=len(data.labels))
    with torch.no_grad():  # head 1 of layer 0 can no longer affect anything
        d = st.head_size(model)
        st.layers(model)[0].attention.output.dense.weight[:, d: 2 * d] = 0
    ids = {lab: i for i, lab in enumerate(data.labels)}
    batches = [encode(tokenizer, "classify", data.splits["train"][i: i + 16], 48, ids)
               for i in range(0, 64, 16)]
    scores = unit_scores(model, batches, [], weights=(1.0, 0.0, 0.0))
    taylor = scores.signals["head_taylor"][0]
    assert taylor[1] == 0.0 and min(taylor[:1] + taylor[2:]) > 0.0
    assert int(scores.heads[0].argmin()) == 1


# ---- every step on every kind -----------------------------------------------------------

STEP_CFGS = {
    "distill": {"op": "distill", "layers": [1], "epochs": 1, "beta": 0.2},
    "prune": {"op": "prune", "heads": 0.5, "ffn": 0.5, "vocab": True, "batches": 2},
    "prune_layers": {"op": "prune", "drop_layers": 1, "batches": 2},
    "freeze": {"op": "freeze", "embeddings": True, "layers": 1, "epochs": 1},
    "quantize_torch": {"op": "quantize", "backend": "torch-int8"},
    "quantize_onnx": {"op": "quantize", "backend": "onnx-int8"},
}


@pytest.fixture(scope="module")
def contexts(tiny_home, tmp_path_factory):
    reg = Registry(Paths(tiny_home).registry)
    out = {}
    for name in KIND_OF:
        p = load_predictor(reg, name)
        out[name] = StepContext(spec=get_spec(name), tokenizer=p.tokenizer, labels=p.labels,
                                teacher=p.model, data=load_expert_data(name, Paths(tiny_home)
                                                                       .data),
                                workdir=tmp_path_factory.mktemp(f"work_{name}"), quick=True,
                                progress=False)
    return out


@pytest.mark.parametrize("name", sorted(KIND_OF))
@pytest.mark.parametrize("step", sorted(STEP_CFGS))
def test_every_step_on_every_kind(step, name, contexts, tokenizer):
    ctx = contexts[name]
    cfg = Recipe.model_validate({"expert": name, "steps": [STEP_CFGS[step]]}).steps[0]
    before = copy.deepcopy(ctx.teacher.state_dict())
    model, details = STEPS[cfg.op](ctx.teacher, cfg, ctx)
    assert all(torch.equal(v, ctx.teacher.state_dict()[k]) for k, v in before.items()), \
        "a step must not change its input model"
    x = _inputs(tokenizer, KIND_OF[name])
    with torch.no_grad():
        out = model(**x)
        ref = ctx.teacher(**x)
    assert out.shape == ref.shape and torch.isfinite(out).all()
    n_before = ctx.teacher.num_params()
    if step == "distill":
        assert model.encoder.config.num_hidden_layers == 1
        assert model.num_params() < n_before and details["train_steps"] > 0
    elif step == "prune":
        assert sum(details["after"]["heads"]) == sum(details["before"]["heads"]) // 2
        assert sum(details["after"]["ffn"]) == sum(details["before"]["ffn"]) // 2
        assert details["vocab"]["after"] < details["vocab"]["before"] / 5
        assert model.num_params() < n_before / 2
    elif step == "prune_layers":
        assert len(details["dropped_layers"]) == 1 and len(st.layers(model)) == 1
    elif step == "freeze":
        assert details["frozen"][0] == "encoder.embeddings" and len(details["frozen"]) == 2
        frozen_layer = details["frozen"][1]
        old, new = ctx.teacher.state_dict(), model.state_dict()
        assert all(torch.equal(old[k], new[k]) for k in old
                   if k.startswith(("encoder.embeddings.", frozen_layer + ".")))
        assert any(not torch.equal(old[k], new[k]) for k in old if k.startswith("classifier"))
        assert details["frozen_params"] + details["trainable_params"] == n_before
    else:
        rel = (out - ref).abs().max() / ref.abs().max()
        assert rel < 0.1
        assert load_expert_model(Path(details["files"])) is not None


# ---- pipeline, gate, sweep --------------------------------------------------------------

def _home_copy(tiny_home, tmp_path) -> Path:
    root = tmp_path / "home"
    shutil.copytree(tiny_home, root)
    return root


def _recipe(name, steps, **kw) -> Recipe:
    return Recipe.model_validate({"expert": name, "steps": steps, "min_quality": 0.0, **kw})


def test_specialize_registers_a_child_version_that_serves(tiny_home, tmp_path):
    from experts.specialize.pipeline import specialize

    root = _home_copy(tiny_home, tmp_path)
    recipe = _recipe("attributes", [STEP_CFGS["distill"], STEP_CFGS["prune"],
                                    {"op": "freeze", "epochs": 1}, STEP_CFGS["quantize_onnx"]])
    result = specialize("attributes", recipe, root=root, quick=True, progress=False,
                        log=lambda *_: None)
    reg = Registry(Paths(root).registry)
    m = reg.manifest("attributes", result["version"])
    assert (m.version, m.parent_version, reg.active("attributes")) == ("v2", "v1", "v2")
    steps = m.metrics["specialization"]["steps"]
    assert [s["op"] for s in steps] == ["teacher v1", "distill", "prune", "freeze", "quantize"]
    assert steps[-1]["file_bytes"] < steps[0]["file_bytes"] / 2
    assert "versions.json" in m.files and m.recipe["steps"][0]["op"] == "distill"
    p = load_predictor(reg, "attributes")
    out = p.predict(["Bosch 0242236541 spark plug"])
    assert len(out[0]["tags"]) == 4


def test_quality_gate_stops_and_registers_nothing(tiny_home, tmp_path):
    from experts.specialize.pipeline import specialize

    root = _home_copy(tiny_home, tmp_path)
    # a distill step at lr 0.9 wrecks the student, so it must fall under the teacher (pruning
    # 90 % of a near-chance tiny model could land a hair above it: seen once)
    recipe = Recipe.model_validate({"expert": "category", "min_quality": 1.0, "steps": [
        {"op": "distill", "layers": [0], "epochs": 1, "lr": 0.9, "gate": True}]})
    reg = Registry(Paths(root).registry)
    with pytest.raises(TinyExpertsError, match="nothing was registered"):
        specialize("category", recipe, root=root, quick=True, progress=False,
                   log=lambda *_: None)
    assert reg.versions("category") == ["v1"] and reg.active("category") == "v1"


def test_beta_sweep_restores_the_same_initial_student(tiny_home, tmp_path):
    from experts.specialize.sweep import beta_sweep

    recipe = _recipe("attributes", [STEP_CFGS["distill"]])
    rows = beta_sweep("attributes", recipe, [0.0, 0.5], out=tmp_path, root=tiny_home,
                      quick=True, progress=False, log=lambda *_: None)
    assert [r["beta"] for r in rows] == [0.0, 0.5]
    assert rows[0]["initial_state_sha256"] == rows[1]["initial_state_sha256"]
    assert {"f1", "f1_critical", "coverage", "seconds", "val_choice"} <= set(rows[0])
    assert sum(r["chosen"] for r in rows) == 1
    assert (tmp_path / "attributes_sweep_beta.csv").read_text().count("\n") == 3
    assert (tmp_path / "attributes_sweep_beta.png").stat().st_size > 1000


def test_the_sweep_protects_the_teachers_own_critical_types(tiny_home, tmp_path, monkeypatch):
    """A teacher built from a user's corpus declares its own critical types; the sweep's KD
    and scores must use them (it once fell back to the defaults, so on a corpus without
    PART_NUMBER and VEHICLE every beta trained the same student)."""
    import experts.specialize.sweep as sweep

    real_load, real_ctx, seen = sweep.load_start, sweep.StepContext, []

    def load(*args, **kwargs):
        out = real_load(*args, **kwargs)
        out[4].critical = ("BRAND",)  # the teacher predictor, as its manifest would say
        return out

    def ctx(**kwargs):
        seen.append(kwargs.get("critical"))
        return real_ctx(**kwargs)

    monkeypatch.setattr(sweep, "load_start", load)
    monkeypatch.setattr(sweep, "StepContext", ctx)
    rows = sweep.beta_sweep("attributes", _recipe("attributes", [STEP_CFGS["distill"]]),
                            [1.0], out=tmp_path, root=tiny_home, quick=True, progress=False,
                            log=lambda *_: None)
    assert seen == [("BRAND",)] and "f1_critical" in rows[0]


def test_the_sweep_chooses_on_validation_and_writes_the_beta_into_the_recipe():
    from experts.specialize.sweep import choose_beta, with_beta

    rows = [{"beta": 0.0, "val_choice": 0.90, "f1_critical": 0.99},  # best on test: unused
            {"beta": 0.5, "val_choice": 0.93, "f1_critical": 0.91},
            {"beta": 1.0, "val_choice": 0.93, "f1_critical": 0.92}]
    assert choose_beta(rows) == 0.5  # validation decides; a tie goes to the smaller beta
    recipe = load_recipe(None, "attributes")
    before = recipe.model_dump()
    chosen = with_beta(recipe, 1.5, [0.5, 1.5])
    betas = {s.op: s.beta for s in chosen.steps if s.op in ("distill", "freeze")}
    assert betas == {"distill": 1.5, "freeze": 1.5}
    assert "beta 1.5 chosen on validation" in chosen.description
    assert [s.op for s in chosen.steps] == [s.op for s in recipe.steps]
    assert recipe.model_dump() == before and 1.5 not in {s.beta for s in recipe.steps
                                                         if s.op in ("distill", "freeze")}


# ---- recipe validation -----------------------------------------------------------------

BAD_RECIPES = [
    ({"steps": [{"op": "shrink"}]}, "steps.0"),
    ({"steps": [{"op": "distill", "epochs": "many"}]}, "epochs"),
    ({"steps": [{"op": "distill", "beta": -0.1}]}, "beta"),
    ({"steps": [{"op": "prune", "heads": 1.0}]}, "heads"),
    ({"steps": [{"op": "prune", "ffn": 0.5, "colour": "red"}]}, "colour"),
    ({"steps": [{"op": "quantize"}, {"op": "prune", "heads": 0.5}]}, "quantize must be"),
    ({"steps": []}, "steps"),
    ({"steps": [{"op": "distill"}], "min_quality": 2}, "min_quality"),
]


@pytest.mark.parametrize("body,needle", BAD_RECIPES)
def test_invalid_recipes_fail_before_any_work(body, needle, tmp_path):
    path = tmp_path / "r.yaml"
    path.write_text(yaml.safe_dump({"expert": "category", **body}))
    with pytest.raises(TinyExpertsError) as err:
        load_recipe(path, "category")
    assert needle in err.value.message and str(path) in err.value.message


def test_recipe_checks_that_need_the_model():
    drop_all = _recipe("category", [{"op": "distill", "layers": [0, 1]},
                                    {"op": "prune", "drop_layers": 2}])
    with pytest.raises(TinyExpertsError, match="would remove all 2 layers"):
        validate_against(drop_all, 6)
    with pytest.raises(TinyExpertsError, match="not distinct layers"):
        validate_against(_recipe("category", [{"op": "distill", "layers": [0, 9]}]), 6)
    validate_against(_recipe("category", [{"op": "distill", "layers": [0, 5]}]), 6)


def test_default_recipes_are_valid_and_name_their_command():
    from experts.specialize.recipe import RECIPES_DIR
    from experts.specs import EXPERTS

    for name in EXPERTS:
        text = (RECIPES_DIR / f"{name}.yaml").read_text()
        assert f"tinyexperts specialize {name}" in text.splitlines()[1]
        recipe = load_recipe(None, name)
        validate_against(recipe, 6)
        assert recipe.steps[-1].op == "quantize"


def test_cli_specialize_bad_recipe_and_report_on_teacher(tiny_home, tmp_path, monkeypatch,
                                                         capsys):
    from services.cli import main

    monkeypatch.setenv("TINYEXPERTS_HOME", str(tiny_home))
    bad = tmp_path / "bad.yaml"
    bad.write_text("expert: category\nsteps:\n  - {op: distill, beta: -1}\n")
    assert main(["specialize", "category", "--recipe", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "beta" in err and "greater than or equal to 0" in err
    assert Registry(Paths(tiny_home).registry).versions("category") == ["v1"]
    assert main(["report", "category"]) == 2
    assert "was not made by `specialize`" in capsys.readouterr().err


@pytest.mark.parametrize("kind", ["classify", "tag", "pair"])
def test_teacher_logits_are_computed_once_per_row_and_equal_the_teachers(tokenizer, kind):
    from experts.specialize.distill import TeacherLogits

    teacher = _tiny(kind, seed=3)
    cache = TeacherLogits(teacher)
    batch = _inputs(tokenizer, kind)
    first = cache(batch)
    with torch.no_grad():
        direct = teacher(**batch)
    mask = batch["attention_mask"].bool()
    if kind == "tag":  # padding positions are never read by the loss
        assert torch.allclose(first[mask], direct[mask], atol=1e-5)
    else:
        assert torch.allclose(first, direct, atol=1e-5)
    assert cache.computed == 4 and len(cache) == 4
    # the same rows again, two of them in a batch of their own (other padding): no teacher
    # pass, and each row's logits as before
    pair = _inputs(tokenizer, kind, n=2)
    again = cache(pair)
    assert cache.computed == 4
    width = pair["input_ids"].shape[1]
    if kind == "tag":
        assert torch.allclose(again[:2][pair["attention_mask"].bool()],
                              first[:2, :width][pair["attention_mask"].bool()])
        assert again.shape[:2] == pair["input_ids"].shape
    else:
        assert torch.allclose(again, first[:2])


def test_kd_loss_fills_the_cache_it_is_given(tokenizer):
    """A recipe's steps share one cache: the first KD step must fill the (empty) shared one,
    not a private copy, so the next step finds the rows there."""
    from experts.data.formats import TextExample
    from experts.specialize.distill import TeacherLogits, kd_loss

    teacher = _tiny("classify", seed=3)
    cache = TeacherLogits(teacher)
    ex = [TextExample(t, "a") for t in ("spark plug", "oxygen sensor", "battery")]
    batch = encode(tokenizer, "classify", ex, 48, {"a": 0})
    student = _tiny("classify", seed=4)
    for _ in range(2):  # two steps, each with its own loss over the shared cache
        loss = kd_loss(teacher, alpha=0.5, temperature=2.0, beta=0.0, mode="logits",
                       critical=[], cache=cache)
        assert float(loss(student(**model_inputs(batch)), batch)) > 0
    assert len(cache) == 3 and cache.computed == 3
