"""Adapt and merge on tiny random experts: what each method may and may not change, LoRA
factors that reproduce the folded update, EWC pulling toward the parent, the union head,
known-answer task arithmetic, and every bad merge refused before anything is written."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from experts.adapt import AdaptConfig, adapt
from experts.core.errors import TinyExpertsError
from experts.core.paths import Paths
from experts.core.registry import Registry
from experts.data.datasets import load_expert_data
from experts.data.formats import write_examples
from experts.merge.variants import MergeConfig, merge
from experts.predictor import load_predictor

QUICK = dict(quick=True, epochs=1)
quiet = lambda *_: None  # noqa: E731


@pytest.fixture()
def home(tiny_home, tmp_path) -> Path:
    root = tmp_path / "home"
    shutil.copytree(tiny_home, root)
    return root


def _reg(home: Path) -> Registry:
    return Registry(Paths(home).registry)


def _site_folders(home: Path, tmp_path: Path) -> tuple[Path, Path, list[str], list[str]]:
    """Category data split by label into two 'sites' with disjoint label sets."""
    data = load_expert_data("category", Paths(home).data)
    labels = sorted(data.labels)
    halves = (labels[: len(labels) // 2], labels[len(labels) // 2:])
    folders = []
    for i, keep in enumerate(halves):
        folder = tmp_path / f"site{i}"
        for split, rows in data.splits.items():
            write_examples(folder / f"{split}.jsonl", "classify",
                           [r for r in rows if r.label in keep])
        folders.append(folder)
    return folders[0], folders[1], halves[0], halves[1]


def _variant(reg: Registry, data: Path, method: str = "lora", parent: str = "v1",
             seed: int = 0) -> str:
    """A quick adapted version of the category expert; returns its version."""
    return adapt("category", data, AdaptConfig(method=method, seed=seed, **QUICK), reg,
                 parent=parent, progress=False, log=quiet)["version"]


def _enc(reg: Registry, version: str) -> dict[str, torch.Tensor]:
    return dict(load_predictor(reg, "category", version).model.encoder.state_dict())


def test_lora_factors_reproduce_the_folded_update_and_record_forgetting(home):
    reg = _reg(home)
    r = adapt("category", Paths(home).data / "category", AdaptConfig(method="lora", **QUICK),
              reg, parent="v1", progress=False, log=quiet)
    assert r["version"] == "v2"
    m = reg.manifest("category", "v2")
    assert m.parent_version == "v1" and m.data["base"]["ref"] == "category@v1"
    prev = r["metrics"]["previous_test"]
    assert prev["forgetting"] == pytest.approx(prev["parent"]["macro_f1"]
                                               - prev["adapted"]["macro_f1"], abs=1e-4)
    folder = reg.path("category", "v2")
    factors = load_file(str(folder / "lora.safetensors"))
    before, after = _enc(reg, "v1"), _enc(reg, "v2")
    key = "encoder.layer.1.attention.self.query.weight"
    update = factors["encoder.encoder.layer.1.attention.self.query.lora_B"] @ \
        factors["encoder.encoder.layer.1.attention.self.query.lora_A"]
    assert update.abs().max() > 0  # it did learn something
    assert torch.allclose(after[key] - before[key], update, atol=1e-6)
    # LoRA leaves the non-targeted tensors exactly as they were
    assert torch.equal(after["encoder.layer.0.attention.output.LayerNorm.weight"],
                       before["encoder.layer.0.attention.output.LayerNorm.weight"])


def test_prompt_tuning_changes_only_prompt_and_head_and_reloads(home):
    reg = _reg(home)
    r = adapt("category", Paths(home).data / "category",
              AdaptConfig(method="prompt", prompt_tokens=4, **QUICK), reg, parent="v1",
              progress=False, log=quiet)
    before, after = _enc(reg, "v1"), _enc(reg, r["version"])
    assert all(torch.equal(before[k], after[k]) for k in before)
    loaded = load_predictor(reg, "category", r["version"])
    assert loaded.model.prompt is not None and loaded.model.prompt.shape[0] == 4
    from experts.data.formats import TextExample

    text = [TextExample("Bosch spark plug for 2012 Civic", "")]
    parent = load_predictor(reg, "category", "v1")
    assert not torch.allclose(loaded.logits(text)[0], parent.logits(text)[0])


def test_freeze_keeps_a_layer_and_ewc_stores_its_fisher(home):
    reg = _reg(home)
    data = Paths(home).data / "category"
    plain = adapt("category", data, AdaptConfig(method="finetune", freeze=("layer.0",),
                                                lr=1e-3, **QUICK),
                  reg, parent="v1", progress=False, log=quiet)
    base = _enc(reg, "v1")
    frozen = _enc(reg, plain["version"])
    layer0 = [k for k in base if k.startswith("encoder.layer.0.")]
    layer1 = [k for k in base if k.startswith("encoder.layer.1.")]
    assert all(torch.equal(frozen[k], base[k]) for k in layer0)
    assert any(not torch.equal(frozen[k], base[k]) for k in layer1)
    ewc = adapt("category", data, AdaptConfig(method="lora", ewc=10.0, fisher_samples=16,
                                              **QUICK),
                reg, parent="v1", progress=False, log=quiet)
    fisher = load_file(str(reg.path("category", ewc["version"]) / "fisher.safetensors"))
    assert all(v.dtype == torch.float16 for v in fisher.values())
    assert "classifier.weight" in fisher and not any("word_embeddings" in k for k in fisher)
    assert float(torch.cat([v.float().flatten() for v in fisher.values()]).mean()) == \
        pytest.approx(1.0, rel=1e-2)  # normalised to mean 1


def test_ewc_penalty_counts_plain_weights_and_the_folded_lora_update(tiny_predictor):
    from experts.adapt import EWC, AdaptConfig, add_lora, canonical

    p = tiny_predictor("category", "classify", ["a", "b", "c"])
    model = p.model
    anchor = {canonical(n): t.detach().clone() for n, t in model.named_parameters()}
    key = "encoder.encoder.layer.0.attention.self.query.weight"
    fisher = {key: torch.full_like(anchor[key], 2.0),
              "classifier.bias": torch.tensor([1.0, 0.0, 3.0])}
    ewc = EWC(fisher, anchor, lam=4.0)
    assert float(ewc.penalty(model)) == 0.0
    with torch.no_grad():
        model.classifier.bias += torch.tensor([1.0, 5.0, 2.0])
    # λ/2 · Σ F δ² = 2 · (1·1 + 0·25 + 3·4) = 26
    assert float(ewc.penalty(model)) == pytest.approx(26.0)
    add_lora(model, AdaptConfig(rank=2, alpha=4))
    layer = model.encoder.base_model.model.encoder.layer[0].attention.self.query
    with torch.no_grad():
        layer.lora_A["default"].weight.fill_(0.5)
        layer.lora_B["default"].weight.fill_(0.25)
    update = 2.0 * (0.25 * 0.5 * 2)  # scaling alpha/r = 2; (B·A)_ij = Σ_r 0.25·0.5
    expected = 26.0 + 0.5 * 4.0 * 2.0 * update ** 2 * anchor[key].numel()
    assert float(ewc.penalty(model)) == pytest.approx(expected, rel=1e-5)


def test_merge_task_arithmetic_adds_the_deltas_and_averages_shared_head_rows(home, tmp_path):
    reg = _reg(home)
    a, b, _, _ = _site_folders(home, tmp_path)
    va, vb = _variant(reg, a), _variant(reg, b, seed=1)
    out = merge("category", [va, vb], MergeConfig(method="task_arithmetic", weights=[1.0, 3.0]),
                reg, floor=0.0, log=quiet)
    merged = out["predictor"]
    key = "encoder.layer.0.intermediate.dense.weight"
    base, ea, eb = _enc(reg, "v1"), _enc(reg, va), _enc(reg, vb)
    em = dict(merged.model.encoder.state_dict())
    assert torch.allclose(em[key], base[key] + 1.0 * (ea[key] - base[key])
                          + 3.0 * (eb[key] - base[key]), atol=1e-6)
    # both variants know every label (they started from v1): rows are the weighted mean
    pa, pb = load_predictor(reg, "category", va), load_predictor(reg, "category", vb)
    assert merged.labels == pa.labels == pb.labels
    want = (1.0 * pa.model.classifier.weight + 3.0 * pb.model.classifier.weight) / 4.0
    assert torch.allclose(merged.model.classifier.weight, want, atol=1e-6)
    reloaded = load_predictor(reg, "category", out["version"])
    assert reloaded.labels == merged.labels
    assert json.loads((reg.path("category", out["version"]) / "manifest.json").read_text()
                      )["recipe"]["merge"]["variants"] == [va, vb]
    # KnOTS and a search run on the same variants and pass a zero floor (the quick tiny
    # variants are near chance, so a merged score of 0 on one site is possible: no bound on it)
    k = merge("category", [va, vb], MergeConfig(method="knots"), reg, floor=0.0, log=quiet)
    assert k["config"]["method"] == "knots"
    assert set(k["metrics"]["variants"]) == {va, vb}
    assert all(0.0 <= r["merged_test"] <= 1.0 for r in k["metrics"]["variants"].values())
    assert load_predictor(reg, "category", k["version"]).labels == merged.labels
    s = merge("category", [va, vb], MergeConfig(method="ties"), reg, search=True, floor=0.0,
              log=quiet)
    assert len(s["metrics"]["search"]) == 12


def test_variants_with_disjoint_labels_get_the_union_head(tiny_predictor):
    from experts.core.registry import Manifest
    from experts.merge.variants import Variant, merge_predictors

    pa = tiny_predictor("fault_codes", "classify", ["P0171", "P0300"], seed=1)
    pb = tiny_predictor("fault_codes", "classify", ["U0100", "P0300", "U0073"], seed=2)
    base = {k: v.clone() for k, v in pa.model.encoder.state_dict().items()}
    pb.model.encoder.load_state_dict(base)
    key = "encoder.layer.1.output.dense.bias"
    with torch.no_grad():  # variant A moves this bias by +1, variant B by -3
        pa.model.encoder.encoder.layer[1].output.dense.bias += 1.0
        pb.model.encoder.encoder.layer[1].output.dense.bias -= 3.0
    manifest = Manifest(name="fault_codes", version="v0", task="classify", base_model="x",
                        labels=[], params=0, created_at="", files={})
    variants = [Variant("v1", manifest, pa, None), Variant("v2", manifest, pb, None)]
    merged = merge_predictors(variants, base, MergeConfig(method="ties", density=1.0))
    assert merged.labels == ["P0171", "P0300", "U0100", "U0073"]
    w = merged.model.classifier.weight
    assert torch.equal(w[0], pa.model.classifier.weight[0])  # only A has P0171
    assert torch.equal(w[3], pb.model.classifier.weight[2])  # only B has U0073
    assert torch.allclose(w[1], (pa.model.classifier.weight[1] + pb.model.classifier.weight[1])
                          / 2)
    # TIES: +1 and -3 disagree; the elected sign is minus, so only B's -3 survives
    assert torch.allclose(merged.model.encoder.state_dict()[key], base[key] - 3.0)


def test_site_known_scoring_ranks_only_that_sites_codes(tiny_predictor):
    """The merge bench's diagnostic: the merged expert restricted to one site's labels
    gives that site's columns of the union logits, and the merged expert is untouched."""
    from experts.data.formats import TextExample
    from experts.merge.bench import site_only

    merged = tiny_predictor("fault_codes", "classify", ["P0171", "P0300", "U0100", "U0073"])
    before = merged.model.classifier.weight.clone()
    site = site_only(merged, ["U0073", "P0171"])
    rows = [TextExample("lean condition bank 1", "P0171"),
            TextExample("lost communication with ECM", "U0073")]
    union, known = merged.logits(rows), site.logits(rows)
    for u, k in zip(union, known, strict=True):
        assert torch.allclose(k, u[[3, 0]], atol=1e-6)
    assert site.labels == ["U0073", "P0171"]
    assert torch.equal(merged.model.classifier.weight, before) and len(merged.labels) == 4


def test_update_cost_times_the_retrain_with_the_two_runs_around_the_joint_one():
    """The site trained in 150 s before the joint run and 130 s after it: the update
    counts 140 s of retraining, plus the re-merge, against the joint run."""
    from experts.merge.bench import update_cost

    u = update_cost(retrain_before=150.0, retrain_after=130.0, remerge=10.0, joint=400.0)
    assert u["retrain_seconds"] == 140.0 and u["update_seconds"] == 150.0
    assert u["pct_of_joint"] == 37.5
    assert u["pct_of_joint_single_run"] == 35.0  # (130 + 10) / 400


def test_bad_merges_are_refused_before_anything_is_written(home, tmp_path):
    reg = _reg(home)
    a, b, _, _ = _site_folders(home, tmp_path)
    va, vb = _variant(reg, a), _variant(reg, b, method="finetune")
    other = _variant(reg, b, parent=va)
    count = len(reg.versions("category"))
    cases = [
        ([va, other], MergeConfig(), "different bases"),
        ([va, "v1"], MergeConfig(), "was not made by `adapt`"),
        ([va, va], MergeConfig(), "two distinct variants"),
        ([va, vb], MergeConfig(method="knots"), "KnOTS merges LoRA updates"),
        ([va, vb], MergeConfig(method="mean"), "unknown method"),
        ([va, vb], MergeConfig(density=1.5), "outside (0, 1]"),
        ([va, vb], MergeConfig(density=0.0), "outside (0, 1]"),
        ([va, vb], MergeConfig(weights=[1.0]), "1 weight(s) for 2 variants"),
        ([va, vb], MergeConfig(weights=[1.0, -1.0]), "must lie in (0, 10]"),
    ]
    for versions, cfg, message in cases:
        with pytest.raises(TinyExpertsError, match=message.replace("(", r"\(")
                           .replace(")", r"\)").replace("[", r"\[").replace("]", r"\]")):
            merge("category", versions, cfg, reg, floor=0.0, log=quiet)
    assert len(reg.versions("category")) == count


def test_a_merge_below_the_floor_is_not_registered(home, tmp_path, monkeypatch):
    import experts.merge.variants as mv

    reg = _reg(home)
    a, b, _, _ = _site_folders(home, tmp_path)
    va, vb = _variant(reg, a), _variant(reg, b)
    own = {v: reg.manifest("category", v).metrics["validation"]["macro_f1"] for v in (va, vb)}
    # variant B keeps 96 % of its own validation score: below a 0.97 floor, above 0.95
    monkeypatch.setattr(mv, "score_on_variants",
                        lambda p, variants, split, limit=None: {va: own[va], vb: 0.96 * own[vb]})
    count = len(reg.versions("category"))
    with pytest.raises(TinyExpertsError, match="nothing was registered"):
        merge("category", [va, vb], MergeConfig(), reg, floor=0.97, log=quiet)
    assert len(reg.versions("category")) == count
    assert merge("category", [va, vb], MergeConfig(), reg, floor=0.95, log=quiet)["version"]
    assert len(reg.versions("category")) == count + 1


@pytest.mark.parametrize(("cfg", "message"), [
    (AdaptConfig(method="distill"), "unknown method"),
    (AdaptConfig(method="prompt", freeze=("layer.0",)), "nothing to freeze"),
    (AdaptConfig(method="lora", freeze=("layer.x",)), "cannot freeze"),
    (AdaptConfig(ewc=-1.0), "negative"),
    (AdaptConfig(rank=0), "outside 1..256"),
    (AdaptConfig(lwf=-1.0), "outside 0..100"),
    (AdaptConfig(rebalance=True), "needs --replay|only replay brings in"),
])
def test_bad_adapt_options_fail_before_training(home, cfg, message):
    reg = _reg(home)
    with pytest.raises(TinyExpertsError, match=message):
        adapt("category", Paths(home).data / "category", cfg, reg, parent="v1",
              progress=False, log=quiet)
    assert reg.versions("category") == ["v1"]


def test_lwf_from_base_is_refused(home):
    with pytest.raises(TinyExpertsError, match="no parent"):
        adapt("category", Paths(home).data / "category", AdaptConfig(lwf=1.0), _reg(home),
              parent="base", progress=False, log=quiet)


def test_keep_parent_compares_the_parents_labels_wherever_the_head_put_them(tiny_predictor):
    import torch.nn.functional as F

    from experts.encoding import encode, model_inputs
    from experts.forgetting import KeepParent

    parent = tiny_predictor("category", "classify", ["a", "b", "c"])
    child = tiny_predictor("category", "classify", ["c", "a", "b", "new"], seed=1)
    child.model.encoder.load_state_dict(parent.model.encoder.state_dict())
    w, b = parent.model.classifier.weight, parent.model.classifier.bias
    order = [2, 0, 1]  # the child's head: c, a, b (the parent's rows), then a new row
    with torch.no_grad():
        child.model.set_head(torch.cat([w[order], torch.randn(1, w.shape[1])]),
                             torch.cat([b[order], torch.tensor([5.0])]))
    from experts.data.formats import TextExample
    rows = [TextExample(text=t, label="a") for t in ("spark plug 14mm", "brake pad set")]
    batch = encode(parent.tokenizer, "classify", rows, 48, {"a": 0})
    keep = KeepParent(parent.model, parent.labels, child.labels)
    child.model.eval()
    with torch.no_grad():
        logits = child.model(**model_inputs(batch))
    # the same distribution over a, b, c: nothing to keep, whatever the new label scores
    assert float(keep(logits, batch)) == pytest.approx(0.0, abs=1e-5)
    shifted = logits.clone()
    shifted[:, 1] += 2.0  # the child now prefers "a" more than the parent did
    with torch.no_grad():
        target = parent.model(**model_inputs(batch))
    T = keep.temperature
    expected = F.kl_div(F.log_softmax(shifted[:, [1, 2, 0]] / T, -1),
                        F.log_softmax(target / T, -1), log_target=True,
                        reduction="batchmean") * T * T
    assert float(keep(shifted, batch)) == pytest.approx(float(expected), rel=1e-4)
    assert float(expected) > 0.01


def test_rebalance_folds_the_smallest_best_offset_into_the_new_labels_bias(tiny_predictor):
    from experts.data.formats import TextExample
    from experts.forgetting import rebalance_new_labels

    p = tiny_predictor("category", "classify", ["a", "b", "new"])
    with torch.no_grad():  # logits = the bias alone: the new label wins every row by 3.1
        p.model.classifier.weight.zero_()
        p.model.classifier.bias.copy_(torch.tensor([0.5, 0.0, 3.6]))
    rows = [TextExample(text=f"part {i}", label="a") for i in range(4)]
    out = rebalance_new_labels(p, ["new"], rows)
    # any offset below -3.1 hands every row back to "a"; -3.25 is the smallest on the grid
    assert out == {"offset": -3.25, "validation_top1_before": 0.0,
                   "validation_top1_after": 1.0, "old_rows_top1_before": 0.0,
                   "old_rows_top1_after": 1.0, "rows": 4}
    assert p.model.classifier.bias.tolist() == pytest.approx([0.5, 0.0, 0.35])
    # no validation row to choose on: the head is left as it is
    assert rebalance_new_labels(p, ["new"], []) == {"offset": 0.0, "rows": 0}
    assert p.model.classifier.bias.tolist() == pytest.approx([0.5, 0.0, 0.35])
    # no new label: nothing to offset, and the head is left as it is
    assert rebalance_new_labels(p, [], rows) is None
    assert p.model.classifier.bias.tolist() == pytest.approx([0.5, 0.0, 0.35])
    assert [r["label"] for r in p.predict(["any title"], top_k=1)] == ["a"]


def test_ewc_from_base_is_refused(home):
    with pytest.raises(TinyExpertsError, match="no previous task"):
        adapt("category", Paths(home).data / "category", AdaptConfig(ewc=10.0), _reg(home),
              parent="base", progress=False, log=quiet)


def test_specialize_from_an_adapted_or_merged_version_uses_the_data_it_was_made_from(
        home, tmp_path):
    """`specialize --from vN` distills on the data vN was made from: an adapted version's own
    folder, a merged version's variants' folders together — never silently the build's
    default data; and it refuses when that data is gone or has changed."""
    from experts.specialize.pipeline import load_start

    reg = _reg(home)
    a, b, labels_a, labels_b = _site_folders(home, tmp_path)
    va, vb = _variant(reg, a), _variant(reg, b, seed=1)
    *_, data = load_start("category", va, home)
    assert {r.label for r in data.splits["train"]} == set(labels_a)
    want = {s: len((a / f"{s}.jsonl").read_text().splitlines()) for s in data.splits}
    assert {s: len(rows) for s, rows in data.splits.items()} == want
    merged = merge("category", [va, vb], MergeConfig(method="task_arithmetic"), reg,
                   floor=0.0, log=quiet)["version"]
    *_, data = load_start("category", merged, home)
    assert {r.label for r in data.splits["train"]} == set(labels_a) | set(labels_b)
    # the teacher the build made still distills on the build's data
    *_, data = load_start("category", "v1", home)
    assert len(data.splits["train"]) == len(load_expert_data("category", Paths(home).data)
                                            .splits["train"])
    # gone or changed: refused with the folder named, never replaced by other data
    shutil.rmtree(b)
    with pytest.raises(TinyExpertsError, match="is gone"):
        load_start("category", merged, home)
    with (a / "train.jsonl").open("a") as f:
        f.write(json.dumps({"text": "one more listing", "label": labels_a[0]}) + "\n")
    with pytest.raises(TinyExpertsError, match="has changed"):
        load_start("category", va, home)
