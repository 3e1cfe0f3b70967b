"""The build's student stage on tiny models: teacher -> student (active) -> nothing to redo;
a student the user rolled back is not rebuilt; a student that cannot be made leaves the
teacher serving and says why."""

from __future__ import annotations

import shutil

import pytest

from experts.core.paths import Paths
from experts.core.registry import Registry
from experts.predictor import load_predictor
from services.system_build import ensure_student, serves_student

TINY_RECIPE = """expert: category
min_quality: 0.0
steps:
  - {op: distill, layers: [0], epochs: 1}
  - {op: quantize, backend: torch-int8}
"""


@pytest.fixture()
def home(tiny_home, tmp_path):
    root = tmp_path / "home"
    shutil.copytree(tiny_home, root)
    return Paths(root)


def test_student_is_built_activated_and_not_redone(home, tmp_path):
    recipe = tmp_path / "category.yaml"
    recipe.write_text(TINY_RECIPE)
    reg = Registry(home.registry)
    logs: list[str] = []
    kw = dict(quick=True, force=False, progress=False, log=logs.append, recipe=recipe)
    assert not serves_student(reg, "category")
    made = ensure_student("category", home, reg, **kw)
    assert made["version"] == "v2" and made["stage"] == "student"
    assert reg.active("category") == "v2" and serves_student(reg, "category")
    student = load_predictor(reg, "category")
    assert student.backend == "torch-int8" and reg.manifest("category").parent_version == "v1"
    assert student.model.num_params() < load_predictor(reg, "category", "v1").model.num_params()
    assert ensure_student("category", home, reg, **kw) is None  # nothing missing
    assert "already serves a student (v2)" in logs[-1]
    reg.rollback("category")  # the user chose the teacher: the build respects it
    assert ensure_student("category", home, reg, **kw) is None
    assert reg.active("category") == "v1" and "v2 is a student of v1 but not active" in logs[-1]
    assert reg.versions("category") == ["v1", "v2"]


def test_a_student_that_cannot_be_made_leaves_the_teacher_serving(home):
    # the default recipe distills MiniLM layers 0, 2 and 5: the 2-layer tiny teacher has none
    reg = Registry(home.registry)
    logs: list[str] = []
    assert ensure_student("category", home, reg, quick=True, force=False, progress=False,
                          log=logs.append) is None
    assert reg.active("category") == "v1" and reg.versions("category") == ["v1"]
    assert "the student was not activated" in logs[-1] and "v1 keeps serving" in logs[-1]


def test_experts_bench_judges_every_target_from_the_rows_it_measured(home, tmp_path):
    from experts.bench_experts import run
    from experts.core.targets import targets_of

    recipe = tmp_path / "category.yaml"
    recipe.write_text(TINY_RECIPE)
    reg = Registry(home.registry)
    ensure_student("category", home, reg, quick=True, force=False, progress=False,
                   log=lambda *_: None, recipe=recipe)
    result = run(reg, home.data, tmp_path / "out", rounds=1, log=lambda *_: None)
    assert [r["expert"] for r in result["rows"]] == ["category"]  # the only student
    row = result["rows"][0]
    judged = {t["name"]: t for t in result["targets"]}
    assert list(judged) == [t.name for t in targets_of("experts")]
    assert judged["category.speedup_b1"]["value"] == pytest.approx(row["speedup_b1"])
    assert judged["category.speedup_b1"]["met"] == (row["speedup_b1"] >= 5.0)
    assert judged["category.bytes_ratio"]["met"] == (row["bytes_ratio"] <= 0.15)
    assert row["targets_met"] == all(t["met"] for n, t in judged.items()
                                     if n.startswith("category."))
    # experts without a student are judged too: not measured, not met
    assert judged["attributes.quality_ratio"]["value"] is None
    assert not judged["attributes.quality_ratio"]["met"]
    assert "Roofline: FP32 GEMM ceiling measured" in result["table"]
    assert (tmp_path / "out" / "experts.png").is_file()


def test_the_critical_types_are_judged_on_the_mean_over_seed_siblings(home):
    """Students of one teacher by one recipe with different seeds are siblings; a student
    of another recipe is not. The bench's critical-type ratio uses the siblings' mean."""
    from experts.bench_experts import critical_rows, seed_siblings
    from experts.data.datasets import load_expert_data
    from experts.evaluate import quality
    from experts.specialize.pipeline import specialize
    from experts.specialize.recipe import Recipe

    def recipe(seed: int, epochs: int = 1) -> Recipe:
        return Recipe.model_validate({
            "expert": "attributes", "min_quality": 0.0, "seed": seed,
            "steps": [{"op": "distill", "layers": [0], "epochs": epochs, "beta": 0.5,
                       "critical_mode": "weighted_ce"},
                      {"op": "quantize", "backend": "torch-int8"}]})

    kw = dict(root=home.home, quick=True, progress=False, log=lambda *_: None,
              activate=False)
    made = [specialize("attributes", recipe(s), **kw)["version"] for s in (0, 1)]
    other = specialize("attributes", recipe(0, epochs=2), **kw)["version"]
    again = specialize("attributes", recipe(1), **kw)["version"]  # seed 1 once more
    reg = Registry(home.registry)
    assert seed_siblings(reg, "attributes", made[0]) == [made[0], again]  # newest per seed
    assert seed_siblings(reg, "attributes", made[1]) == made
    assert seed_siblings(reg, "attributes", other) == [other]
    test = load_expert_data("attributes", home.data).splits["test"]
    q_t = quality(load_predictor(reg, "attributes", "v1"), test)
    q_s = [quality(load_predictor(reg, "attributes", v), test) for v in made]
    row = critical_rows(reg, "attributes", made[1], test, q_t, q_s[1])
    assert row["student_seeds"] == 2
    for k in ("f1_critical", "coverage"):
        assert row[f"student_{k}_mean"] == pytest.approx((q_s[0][k] + q_s[1][k]) / 2)
        assert row[f"student_{k}"] == q_s[1][k]
