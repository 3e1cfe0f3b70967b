"""One Ray Serve deployment class for every expert, bound with different names and args.

`user_config: {version: vN | active}` selects the model; changing it calls `reconfigure()`,
which loads and hash-checks the new artifact beside the old one and swaps in one assignment.
With `active`, the replica also follows the registry: every health check (5 s) re-reads the
ACTIVE pointer and loads a newly activated version the same way, so a build or
`tinyexperts registry activate` running beside the server reaches it without a restart.
A load that fails keeps the old model serving and reports why (`info()["last_error"]`);
a version that failed is not tried again until ACTIVE names another one.
Concurrent requests share one forward pass through `@serve.batch`.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
from pathlib import Path

import ray
import torch
from ray import serve

from experts.core.errors import TinyExpertsError
from experts.core.registry import Registry
from experts.predictor import load_predictor
from services import metrics

log = logging.getLogger("ray.serve")


@serve.deployment(ray_actor_options={"num_cpus": 0.25}, max_ongoing_requests=64,
                  health_check_period_s=5)
class Expert:
    def __init__(self, name: str, registry_root: str, torch_threads: int = 1,
                 max_batch_size: int = 32, batch_wait_timeout_s: float = 0.0) -> None:
        torch.set_num_threads(torch_threads)
        self.name = name
        self.registry = Registry(Path(registry_root))
        self.state: tuple | None = None  # (predictor, version): swapped in one assignment
        self.last_error: str | None = None
        self.loaded_at: float | None = None
        self.follow = True  # user_config `active`: track the registry's ACTIVE pointer
        self.refused: str | None = None  # the last version that failed to load
        self._loading = threading.Lock()  # one load at a time: config and registry agree
        self._batched.set_max_batch_size(max_batch_size)
        self._batched.set_batch_wait_timeout_s(batch_wait_timeout_s)
        self._load("active")

    def reconfigure(self, config: dict) -> None:
        version = str((config or {}).get("version", "active"))
        self.follow = version == "active"
        self._load(version)

    def _load(self, version: str) -> None:
        with self._loading:
            self._load_locked(version)

    def _load_locked(self, version: str) -> None:
        wanted = version
        try:
            wanted = self.registry.active(self.name) if version == "active" else version
            if self.state and self.state[1] == wanted:
                return
            predictor = load_predictor(self.registry, self.name, wanted)  # re-hashes every file
            before = (self.state[1], self.state[0].backend) if self.state else None
            # the old error goes first: whoever sees the new version never sees it beside it
            self.last_error = None
            self.refused = None
            self.state = (predictor, wanted)
            metrics.expert_serving(self.name, wanted, predictor.backend, before)
            self.loaded_at = time.time()
            log.info("expert %s now serves %s", self.name, wanted)
        except TinyExpertsError as err:
            # keep whatever was serving; the reason is visible in info() and /v1/experts
            self.last_error = f"could not load {wanted}: {err.message}"
            self.refused = wanted
            log.warning("expert %s: %s", self.name, self.last_error)

    def _follow_registry(self) -> None:
        """Load the version ACTIVE names now, unless it serves or was refused already."""
        try:
            wanted = self.registry.active(self.name)
        except TinyExpertsError:
            return  # nothing built yet, or a damaged pointer: keep what serves
        with self._loading:
            if (self.follow and wanted != self.refused
                    and not (self.state and self.state[1] == wanted)):
                self._load_locked(wanted)

    @serve.batch(max_batch_size=32, batch_wait_timeout_s=0.0)
    async def _batched(self, requests: list[tuple]) -> list[list[dict]]:
        """requests: (predictor, inputs, top_k) each; one forward pass for all of them."""
        predictor = requests[0][0]
        if any(r[0] is not predictor for r in requests):  # a swap landed mid-batch
            return [await asyncio.to_thread(p.predict, x, k) for p, x, k in requests]
        flat = [x for _, inputs, _ in requests for x in inputs]
        metrics.expert_batch(self.name, len(flat))
        top_k = max(k for _, _, k in requests)
        # the forward pass runs off the event loop so health checks keep answering
        results = await asyncio.to_thread(predictor.predict, flat, top_k)
        out, i = [], 0
        for _, inputs, k in requests:
            chunk = results[i : i + len(inputs)]
            i += len(inputs)
            for r in chunk:
                if "top_k" in r:
                    r["top_k"] = r["top_k"][:k]
            out.append(chunk)
        return out

    async def predict(self, inputs: list, top_k: int = 5) -> dict:
        """{"version", "predictions"} or {"status", "error"} when no model can answer."""
        state = self.state
        if state is None:
            metrics.expert_request(self.name, None, 503, None)
            return {"status": 503, "error": f"expert {self.name} has no model loaded"
                    + (f" ({self.last_error})" if self.last_error else "")}
        predictor, version = state
        t0 = time.perf_counter()
        predictions = await self._batched((predictor, inputs, top_k))
        ms = round((time.perf_counter() - t0) * 1000, 3)
        metrics.expert_request(self.name, version, 200, ms)
        return {"status": 200, "version": version, "predictions": predictions,
                "latency_ms": ms}

    def info(self) -> dict:
        state = self.state
        out: dict = {"expert": self.name, "version": state[1] if state else None,
                     "ready": state is not None, "last_error": self.last_error,
                     "loaded_at": self.loaded_at, "pid": os.getpid(),
                     "node_id": ray.get_runtime_context().get_node_id()}
        if state:
            predictor = state[0]
            out.update(task=predictor.kind, labels=len(predictor.labels),
                       params=predictor.model.num_params(), backend=predictor.backend)
            try:
                metrics = self.registry.manifest(self.name, state[1]).metrics.get("test", {})
                out["test_metrics"] = {k: v for k, v in metrics.items()
                                       if isinstance(v, float)}
            except TinyExpertsError as err:
                out["test_metrics"] = {"error": err.message}
        return out

    async def check_health(self) -> None:
        """Healthy while serving a model, or while waiting for its first version.

        Serve calls this every 5 s. Following the registry happens here (the load runs off
        the event loop, so requests keep being served by the old model meanwhile). It also
        keeps the serving-version gauge fresh: Ray's metrics agent drops a gauge series that
        has not been set again for two export periods (~20 s), so a value set once at load
        time would vanish."""
        if self.follow:
            await asyncio.to_thread(self._follow_registry)
        state = self.state
        if state is not None:
            metrics.expert_serving(self.name, state[1], state[0].backend, None)
