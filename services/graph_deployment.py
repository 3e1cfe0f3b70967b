"""The ontology encoder + tiny LLM as one Ray Serve deployment (`GraphLLM`).

Retrieval (faiss, entity linking) and generation (SmolLM2 with graph tokens) share a
replica: the entity table is needed by both, and a question needs both. The models load
when the replica starts, so readiness waits for them and the first question does not. A
server whose graph LLM is not built yet still starts and answers with the reason; a load
that failed is retried on the next question, and in the background on each health check
(so a graph LLM that a running build registers is picked up without a restart).

Imported ontologies (`build --experts ontology --ontology FILE.ttl`) are answered by the same
replica, sharing SmolLM2 and MiniLM with the product ontology's answerer: each loads at
start when built, or on its first question (`{"ontology": NAME}`).
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
        self.answerer = None  # the product ontology's
        self.imported: dict = {}  # name -> Answerer of an imported ontology
        self.last_error: str | None = None
        self._lock = threading.Lock()
        try:
            self._load()
        except TinyExpertsError:
            pass  # not built (yet): /healthz shows why, the next question tries again
        self._load_imported()

    def _load(self, ontology: str | None = None):
        from experts.core.paths import Paths  # the graph LLM stack is heavy to import
        from ontology_gnn.pipeline import Answerer
        from ontology_gnn.sources import DEFAULT

        with self._lock:
            if ontology not in (None, DEFAULT):
                if ontology not in self.imported:
                    shared = self.answerer
                    answerer = Answerer.load(
                        Paths(self.home), ontology=ontology,
                        llm=(shared.gllm.llm, shared.gllm.tok) if shared else None,
                        text_encoder=shared.text_encoder if shared else None)
                    answerer.warm_up()
                    self.imported[ontology] = answerer
                    log.info("graph LLM ready for %s: %s", ontology, answerer.versions)
                return self.imported[ontology]
            if self.answerer is None:
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

    def _load_imported(self) -> None:
        """Every imported ontology with a built graph LLM, at start."""
        from experts.core.paths import Paths
        from ontology_gnn.sources import imported_names

        for name in imported_names(Paths(self.home)):
            try:
                self._load(name)
            except TinyExpertsError as err:  # not built yet: its first question says so
                log.info("imported ontology %s not loaded: %s", name, err.message)

    async def ask(self, question: str, mode: str = "graph", max_new_tokens: int = 24,
                  decode: str = "choose", ontology: str | None = None) -> dict:
        """The answer dict of `tinyexperts ask`, or {"error", "status"} for a user error."""
        try:
            answerer = await asyncio.to_thread(self._load, ontology)
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
                "versions": self.answerer.versions if self.answerer else {},
                "imported": {n: a.versions for n, a in self.imported.items()}}
