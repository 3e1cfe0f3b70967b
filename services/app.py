"""`build_app(args) -> Application`: the Serve application, as deploy/serve_*.yaml names it.

    Ingress ──handle──► Expert_category ┐
            ──handle──► Expert_attributes │ one Expert class, bound once per expert:
            ──handle──► Expert_compatibility │ own replicas, own user_config (version)
            ──handle──► Expert_fault_codes ┘

The router, ontology encoder and tiny LLM join this graph as their issues land; until then
`/v1/query` without an explicit expert list answers 503 with the reason.
"""

from __future__ import annotations

from pathlib import Path

from ray.serve import Application

from experts.assets import home as default_home
from services.expert_deployment import Expert
from services.ingress import Ingress
from services.live_config import expert_deployment_name
from services.schemas import AppArgs


def build_app(args: AppArgs) -> Application:
    """Typed app builder: Serve validates `args` (the YAML `args:` block) with AppArgs."""
    if isinstance(args, dict):
        args = AppArgs.model_validate(args)
    home = Path(args.home) if args.home else default_home()
    args = args.model_copy(update={"home": str(home)})
    registry_root = str(home / "registry")
    experts = {
        name: Expert.options(name=expert_deployment_name(name)).bind(
            name, registry_root, args.torch_threads, args.max_batch_size,
            args.batch_wait_timeout_s)
        for name in args.experts
    }
    return Ingress.bind(experts, args.model_dump())
