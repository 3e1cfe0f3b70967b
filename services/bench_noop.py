"""The Serve floor for `bench --suite serving`: apps that do nothing, measured beside the
real one in the same run, so our own cost is told apart from Serve's.

    one: proxy → NoopIngress                        (one hop, like a bare Ingress)
    two: proxy → NoopIngress ──handle──► NoopLeaf   (two hops, like Ingress → Expert)

Both answer a small JSON body over HTTP; they take no CPU reservation (the real app keeps
the machine's)."""

from __future__ import annotations

from ray import serve
from starlette.requests import Request
from starlette.responses import JSONResponse

NO_CPU = {"num_cpus": 0}


@serve.deployment(ray_actor_options=NO_CPU)
class NoopLeaf:
    async def __call__(self, payload: dict) -> dict:
        return {"ok": True, "n": len(payload)}


@serve.deployment(ray_actor_options=NO_CPU)
class NoopIngress:
    def __init__(self, leaf=None) -> None:
        self.leaf = leaf

    async def __call__(self, request: Request) -> JSONResponse:
        payload = await request.json()
        if self.leaf is not None:
            return JSONResponse(await self.leaf.remote(payload))
        return JSONResponse({"ok": True, "n": len(payload)})


one = NoopIngress.bind()
two = NoopIngress.bind(NoopLeaf.bind())
