"""The same app on a 3-node Ray cluster on 127.0.0.1, experts placed on different nodes."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path

import pytest
import yaml

from services import runner
from services.http_client import wait_healthy
from services.runner import free_port

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]



def test_experts_run_on_the_nodes_their_resources_name(in_home, tmp_path):
    from ray.cluster_utils import Cluster

    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
    node_a = cluster.add_node(num_cpus=1, resources={"node_a": 1})
    node_b = cluster.add_node(num_cpus=1, resources={"node_b": 1})
    raw = yaml.safe_load((ROOT / "deploy" / "serve_multinode.yaml").read_text())
    raw["http_options"]["port"] = free_port()
    raw["grpc_options"]["port"] = free_port()
    app = raw["applications"][0]
    app["args"]["experts"] = ["category", "compatibility"]
    app["deployments"] = [d for d in app["deployments"]
                          if d["name"] in ("Ingress", "Expert_category", "Expert_compatibility")]
    path = tmp_path / "multinode.yaml"
    path.write_text(yaml.safe_dump(raw))
    config = runner.load_serve_config(path)
    try:
        runner.start(config, address=cluster.address, home=in_home)
        url = runner.http_url(config)
        health = wait_healthy(url, timeout_s=240)
        assert health["status"] == "ok"
        with urllib.request.urlopen(f"{url}/v1/experts", timeout=60) as r:
            infos = {e["expert"]: e for e in json.loads(r.read())["experts"]}
        assert infos["category"]["node_id"] == node_a.node_id
        assert infos["compatibility"]["node_id"] == node_b.node_id
        body = json.dumps({"text": "Fram oil filter", "experts": ["category"]}).encode()
        req = urllib.request.Request(f"{url}/v1/query", data=body, method="POST",
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=60) as r:
            out = json.loads(r.read())
        assert out["results"]["category"]["predictions"][0]["label"] == "oil filters"
    finally:
        runner.stop()
        cluster.shutdown()
