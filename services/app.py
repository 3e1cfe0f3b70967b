"""`build_app(args) -> Application`: the Serve application, as deploy/serve_*.yaml names it.

    Ingress ──handle──► Expert_category ┐
            ──handle──► Expert_attributes │ one Expert class, bound once per expert:
            ──handle──► Expert_compatibility │ own replicas, own user_config (version)
            ──handle──► Expert_fault_codes ┘

            ──handle──► GraphLLM  ontology encoder (faiss + GNN vectors) + SmolLM2 with
                          graph tokens: free-form questions (`/v1/ask`, and `/v1/query`
                          when the router hands a question to the LLM); `llm: false` drops it

The router runs inside the Ingress (a 4M-parameter int8 model, loaded on first use).
"""

from __future__ import annotations

from pathlib import Path

from ray.serve import Application

from experts.core.assets import home as default_home
from services.expert_deployment import Expert
from services.graph_deployment import GraphLLM
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
    llm = (GraphLLM.options(name="GraphLLM").bind(str(home), args.llm_threads)
           if args.llm else None)
    return Ingress.bind(experts, args.model_dump(), llm)
