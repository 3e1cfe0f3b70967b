"""The ontology encoder + tiny LLM as one Ray Serve deployment (`GraphLLM`).

Retrieval (faiss, entity linking) and generation (SmolLM2 with graph tokens) share a
replica: the entity table is needed by both, and a question needs both. The models load
when the replica starts, so readiness waits for them and the first question does not. A
server whose graph LLM is not built yet still starts and answers with the reason; a load
that failed is retried on the next question, and in the background on each health check
(so a graph LLM that a running build registers is picked up without a restart).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from pathlib import Path

import torch
from ray import serve

from experts.core.errors import TinyExpertsError
from services import metrics

log = logging.getLogger("ray.serve")


@serve.deployment(ray_actor_options={"num_cpus": 0.5}, max_ongoing_requests=8,
                  health_check_period_s=10)
class GraphLLM:
    def __init__(self, home: str, torch_threads: int = 2) -> None:
        torch.set_num_threads(torch_threads)
        self.home = Path(home)
        self.answerer = None
        self.last_error: str | None = None
        self._lock = threading.Lock()
        try:
            self._load()
        except TinyExpertsError:
            pass  # not built (yet): /healthz shows why, the next question tries again

    def _load(self):
        with self._lock:
            if self.answerer is None:
                from experts.core.paths import Paths  # the graph LLM stack is heavy to import
                from ontology_gnn.pipeline import Answerer

                try:
                    answerer = Answerer.load(Paths(self.home))
                    answerer.warm_up()  # the first question is not the slow one
                    self.answerer = answerer
                    self.last_error = None
                    log.info("graph LLM ready: %s", self.answerer.versions)
                except TinyExpertsError as err:
                    self.last_error = err.message
                    raise
        return self.answerer

    async def ask(self, question: str, mode: str = "graph", max_new_tokens: int = 24,
                  decode: str = "choose") -> dict:
        """The answer dict of `tinyexperts ask`, or {"error", "status"} for a user error."""
        try:
            answerer = await asyncio.to_thread(self._load)
            t0 = time.perf_counter()
            out = await asyncio.to_thread(answerer.ask, question, mode, max_new_tokens, decode)
            metrics.llm_answer((time.perf_counter() - t0) * 1000, out.get("tokens_per_s"))
            return out
        except TinyExpertsError as err:
            return {"error": err.message, "status": err.status}

    def check_health(self) -> None:
        """Healthy while loaded or waiting for a build; an unloaded replica tries again in
        a background thread (loading SmolLM2 takes longer than a health check may)."""
        if self.answerer is None and not self._lock.locked():
            threading.Thread(target=self._try_load, daemon=True).start()

    def _try_load(self) -> None:
        try:
            self._load()
        except TinyExpertsError:
            pass  # still not built: last_error says why

    async def info(self) -> dict:
        return {"ready": self.answerer is not None, "last_error": self.last_error,
                "versions": self.answerer.versions if self.answerer else {}}
