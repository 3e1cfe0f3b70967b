"""Change one expert's `user_config` in the running Serve config, leaving the rest untouched.

Serve applies a config whose only change is a deployment's `user_config` in place: that
deployment's replicas get `reconfigure()`, every other deployment keeps running. The
controller is an async-awaitable Ray actor, so nothing here blocks a replica's event loop.
"""

from __future__ import annotations

import asyncio

import ray
from ray.serve._private.constants import SERVE_CONTROLLER_NAME, SERVE_NAMESPACE
from ray.serve.schema import DeploymentSchema, ServeDeploySchema

from experts.core.errors import TinyExpertsError

APP_NAME = "tinyexperts"


def expert_deployment_name(expert: str) -> str:
    return f"Expert_{expert}"


async def set_expert_version(expert: str, version: str, app: str = APP_NAME) -> None:
    controller = await asyncio.to_thread(ray.get_actor, SERVE_CONTROLLER_NAME,
                                         namespace=SERVE_NAMESPACE)
    configs = await controller.get_app_configs.remote()
    if app not in configs:
        raise TinyExpertsError(
            f"application {app!r} was not deployed from a config file, so it cannot be "
            "updated live", where="Serve controller", status=409,
            fix="start the server with `tinyexperts serve` (deploy/serve_local.yaml)")
    target = configs[app]
    name = expert_deployment_name(expert)
    deployments = [d for d in target.deployments if d.name != name]
    current = next((d for d in target.deployments if d.name == name), None)
    fields = current.model_dump(exclude_unset=True) if current else {"name": name}
    fields["user_config"] = {"version": version}
    deployments.append(DeploymentSchema(**fields))
    new_app = target.model_copy(update={"deployments": deployments})
    apps = [new_app if a == app else c for a, c in configs.items()]
    await controller.apply_config.remote(ServeDeploySchema(applications=apps))
