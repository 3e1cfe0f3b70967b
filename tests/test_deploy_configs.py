"""Every YAML in deploy/ loads and validates; the RayService embeds serve_scaled.yaml."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from experts.core.errors import TinyExpertsError
from services.runner import load_serve_config
from services.schemas import AppArgs

DEPLOY = Path(__file__).resolve().parents[1] / "deploy"
SERVE_CONFIGS = sorted(DEPLOY.glob("serve_*.yaml"))


def test_there_are_configs_to_check():
    assert {p.name for p in SERVE_CONFIGS} >= {"serve_local.yaml", "serve_scaled.yaml"}


@pytest.mark.parametrize("path", sorted(DEPLOY.glob("**/*.yaml")), ids=lambda p: p.name)
def test_every_yaml_names_its_command_in_the_header(path):
    head = path.read_text().splitlines()[:4]
    assert any(line.startswith("#") and ("tinyexperts" in line or "kubectl" in line)
               for line in head), head


@pytest.mark.parametrize("path", SERVE_CONFIGS, ids=lambda p: p.name)
def test_serve_configs_validate(path):
    config = load_serve_config(path)
    (app,) = config.applications
    args = AppArgs.model_validate(app.args)
    names = {d.name for d in app.deployments}
    assert names == ({"Ingress"} | {f"Expert_{e}" for e in args.experts}
                     | ({"GraphLLM"} if args.llm else set()))
    for d in app.deployments:
        if d.name.startswith("Expert_"):
            assert d.user_config == {"version": "active"}


def test_rayservice_embeds_the_scaled_config():
    service = yaml.safe_load((DEPLOY / "rayservice.yaml").read_text())
    assert service["kind"] == "RayService"
    embedded = yaml.safe_load(service["spec"]["serveConfigV2"])
    assert embedded == yaml.safe_load((DEPLOY / "serve_scaled.yaml").read_text())


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("applications: [", "not valid YAML"),
        ("applications:\n  - name: x\n    import_path: os:system\n", "only runs"),
        ("applications:\n  - name: x\n    import_path: services.app:build_app\n"
         "    args: {experts: [nope]}\n", "experts"),
        ("applications:\n  - name: x\n    import_path: services.app:build_app\n"
         "    args: {torch_threads: 0}\n", "torch_threads"),
    ],
)
def test_bad_serve_configs_are_refused(tmp_path, text, message):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(TinyExpertsError) as err:
        load_serve_config(path)
    assert message in err.value.message


def test_the_grafana_dashboard_asks_only_for_metrics_tinyexperts_exports():
    """Every `ray_tinyexperts_*` series the dashboard queries is one services/metrics.py
    defines (Ray adds the `ray_` prefix; counters get `_total`, histograms `_bucket`,
    `_sum`, `_count`), and every defined metric has a panel."""
    import re

    import services.metrics as m

    source = Path(m.__file__).read_text()
    defined = set(re.findall(r'(?:Counter|Histogram|Gauge)\("(tinyexperts_\w+)"', source))
    assert len(defined) == 10
    dashboard = json.loads((DEPLOY / "grafana" / "tinyexperts.json").read_text())
    exprs = " ".join(t["expr"] for p in dashboard["panels"] for t in p["targets"])
    used = {re.sub(r"_(total|bucket|sum|count)$", "", name)
            for name in re.findall(r"ray_(tinyexperts_\w+)", exprs)}
    assert used == defined


def test_rayservice_pods_run_the_haproxy_ingress_of_serve():
    """Head and worker pods carry the environment `serve --ingress haproxy` sets."""
    from services.runner import INGRESS_ENV

    spec = yaml.safe_load((DEPLOY / "rayservice.yaml").read_text())["spec"]["rayClusterConfig"]
    groups = [spec["headGroupSpec"], *spec["workerGroupSpecs"]]
    for group in groups:
        env = {e["name"]: e.get("value") for c in group["template"]["spec"]["containers"]
               for e in c["env"]}
        for name, value in INGRESS_ENV["haproxy"].items():
            assert env.get(name) == value, (group.get("groupName", "head"), name)
