"""The front door: FastAPI routes (HTTP) and the gRPC methods of `tinyexperts.proto`.

Holds a DeploymentHandle per expert (passed to the constructor) and awaits them; experts
named in one query run in parallel. Admin calls (activate / rollback) change only that
expert's `user_config` in the live Serve config, so only its replicas reconfigure.
"""

# No `from __future__ import annotations` here: FastAPI must see the real request-model
# classes on the methods of a Serve ingress class, or it reads them as query parameters.
import asyncio
import hmac
import os
import time
from collections import deque
from pathlib import Path

from fastapi import FastAPI, Header, HTTPException, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from ray import serve
from ray.serve.handle import DeploymentHandle

from experts.core.assets import home as default_home
from experts.core.errors import TinyExpertsError
from experts.core.paths import Paths
from experts.core.registry import Registry
from experts.core.stats import latency_summary
from experts.ontology.schema import Ontology
from experts.specs import EXPERTS
from router import NAME as ROUTER
from router.runtime import Router
from services import metrics
from services.compose import Composer, Plan
from services.live_config import set_expert_version
from services.schemas import (
    MAX_BATCH,
    MAX_TEXT_CHARS,
    ActivateRequest,
    AppArgs,
    AskRequest,
    ExpertResult,
    PairInput,
    PredictRequest,
    QueryRequest,
    QueryResponse,
)

ROUTER_RECHECK_S = 1.0  # how stale a replica's router may be after an activation

api = FastAPI(title="tinyexperts", version="0.1.0",
              description="A mixture of tiny experts for one domain ontology.")


# The largest valid body is MAX_BATCH pairs of MAX_TEXT_CHARS-character texts (~0.5 MB as
# JSON); anything far beyond that is refused before it is read or parsed.
MAX_BODY_BYTES = 2 * 1024 * 1024


@api.middleware("http")
async def _limit_body(request: Request, call_next):
    length = request.headers.get("content-length")
    if length is not None and (not length.isdigit() or int(length) > MAX_BODY_BYTES):
        return JSONResponse({"detail": f"request body of {length} bytes is over the limit of "
                                       f"{MAX_BODY_BYTES}: send at most {MAX_BATCH} inputs of "
                                       f"{MAX_TEXT_CHARS} characters"}, status_code=413)
    if request.method == "POST":
        if length is None:  # sent chunked: read up to the limit, never the whole stream
            chunks, size = [], 0
            async for chunk in request.stream():
                size += len(chunk)
                if size > MAX_BODY_BYTES:
                    return JSONResponse({"detail": f"request body (sent without Content-Length)"
                                                   f" is over the limit of {MAX_BODY_BYTES} "
                                                   f"bytes: send at most {MAX_BATCH} inputs of "
                                                   f"{MAX_TEXT_CHARS} characters"},
                                        status_code=413)
                chunks.append(chunk)
            request._body = b"".join(chunks)  # what Starlette replays to the endpoint
        body = await request.body()  # within the limit; Starlette replays it
        try:
            body.decode("utf-8")
        except UnicodeDecodeError as err:
            return JSONResponse({"detail": f"the request body is not valid UTF-8 (byte "
                                           f"{err.start}): send JSON encoded as UTF-8"},
                                status_code=400)
    return await call_next(request)


@api.exception_handler(TinyExpertsError)
async def _user_error(_: Request, err: TinyExpertsError) -> JSONResponse:
    return JSONResponse({"detail": err.message}, status_code=err.status)


@api.exception_handler(RequestValidationError)
async def invalid_request(_: Request, err: RequestValidationError) -> JSONResponse:
    """FastAPI's 422, with every string made encodable: JSON may carry a lone surrogate
    (`"\\ud800"`, valid syntax but not Unicode); echoed as sent it would fail to encode
    and turn the 422 into a 500. It is echoed escaped instead."""
    return JSONResponse({"detail": encodable(jsonable_encoder(err.errors()))}, status_code=422)


LIVE_WINDOW = 500  # calls per expert behind the live p50/p99 of /v1/experts
CONSOLE_DIR = Path(__file__).resolve().parent / "console"
CONSOLE_PAGE = CONSOLE_DIR / "index.html"
CONSOLE_FILES = {"console.js": "text/javascript", "console.css": "text/css"}


def _running_replicas() -> dict[str, int]:
    """Deployment name -> RUNNING replicas of this application (empty when Serve cannot
    say, e.g. outside a replica)."""
    try:
        app = serve.get_replica_context().app_name
        deployments = serve.status().applications[app].deployments
        return {name: d.replica_states.get("RUNNING", 0) for name, d in deployments.items()}
    except Exception:  # noqa: BLE001 - a console detail; the rest of the list still answers
        return {}


def _ms_since(t0: float) -> float:
    return round((time.perf_counter() - t0) * 1000, 3)


def encodable(obj):
    """`obj` with every string that is not valid Unicode backslash-escaped."""
    if isinstance(obj, str):
        return obj.encode("utf-8", "backslashreplace").decode("utf-8")
    if isinstance(obj, dict):
        return {encodable(k): encodable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [encodable(v) for v in obj]
    return obj


@serve.deployment(ray_actor_options={"num_cpus": 0}, max_ongoing_requests=256)
@serve.ingress(api)
class Ingress:
    def __init__(self, experts: dict[str, DeploymentHandle], args: dict,
                 llm: DeploymentHandle | None = None) -> None:
        self.args = AppArgs.model_validate(args)
        self.experts = experts
        self.llm = llm
        self.registry = Registry(Path(self.args.home or default_home()) / "registry")
        self.router = None  # loaded at start (`_warm_up`), int8, in this replica
        self._router_checked = 0.0  # when the registry's active router was last looked at
        self.router_error: str | None = None  # why the active router could not be loaded
        self.paths = Paths(Path(self.args.home or default_home()))
        self.composer: Composer | None = None  # built from the ontology at start
        self.composer_error: str | None = None  # why answers are not composed
        self._composer_tried: float | None = None  # mtime of the ontology file last tried
        self.recent: dict[str, deque] = {}  # expert -> its last LIVE_WINDOW latencies (ms)
        self._warm_up()

    def _warm_up(self) -> None:
        """Load the router and the answer composer before this replica reports ready (Serve
        waits for __init__), so the first query does not wait seconds for them."""
        if self.registry.versions(ROUTER):
            try:
                self._router(0.0)
            except TinyExpertsError as err:  # queries say so; a later activate can fix it
                self.router_error = f"the active router could not be loaded: {err}"
        self._composer()

    # ---- shared logic ---------------------------------------------------------------

    def _handle(self, name: str) -> DeploymentHandle:
        if name not in self.experts:
            raise TinyExpertsError(f"expert {name!r} is not served here", where="expert",
                                   status=404, fix=f"use one of: {', '.join(self.experts)}")
        return self.experts[name]

    async def _call(self, name: str, inputs: list, top_k: int) -> ExpertResult:
        t0 = time.perf_counter()
        try:
            out = await self._handle(name).predict.remote(inputs, top_k)
        except TinyExpertsError:
            raise
        except Exception as err:  # a replica died mid-request: say so for this expert only
            return ExpertResult(expert=name, status=503,
                                error=f"expert {name} failed: {type(err).__name__}")
        result = ExpertResult(expert=name, status=out["status"], error=out.get("error"),
                              version=out.get("version"), predictions=out.get("predictions", []))
        result.latency_ms = round((time.perf_counter() - t0) * 1000, 3)
        if result.status == 200:
            self.recent.setdefault(name, deque(maxlen=LIVE_WINDOW)).append(result.latency_ms)
        return result

    @staticmethod
    def _inputs_for(name: str, text: str, context: dict[str, str] | None) -> list:
        if EXPERTS[name].kind != "pair":
            return [text]
        other = (context or {}).get("b")
        if not other:
            raise TinyExpertsError("compatibility needs a second item", where="context.b",
                                   fix='add "context": {"b": "2013 Honda Civic 1.8L"}',
                                   status=422)
        return [{"a": text, "b": other}]

    def _router(self, recheck_s: float = ROUTER_RECHECK_S):
        """The active router. The registry's ACTIVE pointer is re-read at most every
        `recheck_s`, so `tinyexperts registry activate router vN` (or the admin call) reaches
        every Ingress replica without a restart; a version that fails to load (damaged,
        missing) is refused and the loaded one keeps routing."""

        if self._router_fresh(recheck_s):
            return self.router
        self._router_checked = time.monotonic()
        if not self.registry.versions(ROUTER):
            raise TinyExpertsError(
                "automatic routing is not available: the router is not built",
                where="POST /v1/query", status=503,
                fix='run `tinyexperts build --experts router`, or name the experts, '
                    'e.g. "experts": ["category", "attributes"]')
        try:
            active = self.registry.active(ROUTER)
            if self.router is None or self.router.version != active:
                self.router = Router.from_registry(self.registry, active)
            self.router_error = None
        except TinyExpertsError as err:
            if self.router is None:
                raise
            self.router_error = f"the active router could not be loaded: {err}"
        return self.router

    def _router_fresh(self, recheck_s: float = ROUTER_RECHECK_S) -> bool:
        """A router is loaded and ACTIVE was read less than `recheck_s` ago."""
        return (self.router is not None
                and time.monotonic() - self._router_checked < recheck_s)

    async def _switch_router(self, version: str, previous: str) -> dict:
        """Load the router the registry now points at, in this replica (others follow
        within ROUTER_RECHECK_S)."""
        await asyncio.to_thread(self._router, 0.0)
        if self.router is None or self.router.version != version:
            raise TinyExpertsError(self.router_error or f"router {version} did not load",
                                   where="router", status=409,
                                   fix="the previous version keeps routing")
        return {"expert": "router", "active": version, "previous": previous}

    async def _active_router(self):
        """`_router()` from the event loop: a re-read of ACTIVE (and maybe a load) is due at
        most once a second, and only then is it worth a hop to a worker thread."""
        return self.router if self._router_fresh() else await asyncio.to_thread(self._router)

    async def _route(self, text: str) -> dict:
        router = await self._active_router()
        t0 = time.perf_counter()
        decision = (await asyncio.to_thread(router.route, [text]))[0]
        decision["latency_ms"] = round((time.perf_counter() - t0) * 1000, 3)
        decision["version"] = router.version
        metrics.router_decision(decision["decision"], decision["exit_layer"])
        return decision

    def _composer(self) -> Composer | None:
        """The ontology's composer, built on first use; None when there is no ontology or it
        does not load (then queries are routed and answered per expert, without a composed
        answer, and /healthz says why). A file that failed is tried again only once it
        changes, not on every query."""
        if self.composer is not None:
            return self.composer
        path = self.paths.ontology
        stamp = path.stat().st_mtime if path.is_file() else None
        if stamp is None:
            self.composer_error = f"no ontology at {path} (`tinyexperts build`)"
        elif stamp != self._composer_tried:
            self._composer_tried = stamp
            try:
                self.composer = Composer(Ontology.load(path))
                self.composer_error = None
            except TinyExpertsError as err:
                self.composer_error = f"the ontology does not load: {err}"
        return self.composer

    async def _call_planned(self, name: str, plan: Plan | None, req: QueryRequest,
                            explicit: bool) -> ExpertResult:
        """Call one expert with the inputs the plan built. A missing input (compatibility
        without a vehicle) is that expert's error, not the whole query's — unless the caller
        named the expert itself and nothing in the query could stand in for it."""
        if plan is None:
            try:
                inputs = self._inputs_for(name, req.text, req.context)
            except TinyExpertsError as err:
                if explicit:
                    raise
                return ExpertResult(expert=name, status=err.status, error=err.message)
        elif name in plan.inputs:
            inputs = plan.inputs[name]
        else:
            if explicit:
                raise TinyExpertsError(f"{name} needs a second item: {plan.missing[name]}",
                                       where="context.b", status=422,
                                       fix='add "context": {"b": "2013 Honda Civic 1.8L"}')
            return ExpertResult(expert=name, status=422, error=plan.missing[name])
        return await self._call(name, inputs, req.top_k)

    async def query(self, req: QueryRequest) -> QueryResponse:
        """`_query`, counted and timed in the metrics by source (router or request)."""
        t0, source = time.perf_counter(), "request" if req.experts else "router"
        try:
            out = await self._query(req)
        except TinyExpertsError as err:
            metrics.query(source, err.status, _ms_since(t0))
            raise
        metrics.query(source, 200, out.latency_ms["total"])
        return out

    async def _query(self, req: QueryRequest) -> QueryResponse:
        t0 = time.perf_counter()
        answer, latency, facts = None, {}, []
        explicit = bool(req.experts)
        if explicit:
            names = list(dict.fromkeys(req.experts))
            for n in names:
                self._handle(n)
            route = {"source": "request", "experts": names}
        else:
            decision = await self._route(req.text)
            latency["router"] = decision.pop("latency_ms")
            names = [n for n in decision["experts"] if n in self.experts]
            route = {"source": "router", **decision}
        t_link = time.perf_counter()
        composer = self.composer or await asyncio.to_thread(self._composer)
        plan = composer.plan(req.text, names, req.context) if composer else None
        latency["link"] = _ms_since(t_link)
        t_experts = time.perf_counter()
        calls = [self._call_planned(n, plan, req, explicit) for n in names]
        results = dict(zip(names, await asyncio.gather(*calls), strict=True))
        latency["experts"] = _ms_since(t_experts)
        if plan is not None:
            t_compose = time.perf_counter()
            answer, found = composer.compose(plan, {n: r.model_dump()
                                                    for n, r in results.items()})
            facts = [f.as_dict() for f in found]
            latency["compose"] = _ms_since(t_compose)
        if answer is None and not explicit and route["decision"] == "no_expert":
            answer = "No expert covers this question: it is outside the ontology."
        if answer is None and not explicit and route["decision"] in ("llm", "abstain"):
            answer, route["llm"], latency["llm"] = await self._ask_llm(req.text)
            if composer is not None and route["llm"].get("answer_entity"):
                # what the ontology's records say of the entity the LLM named
                said, found = composer.describe(route["llm"]["answer_entity"])
                if said:
                    answer = f"{answer.rstrip('.')}. {said}"
                    facts = [f.as_dict() for f in found]
        return QueryResponse(
            route=route, results=results, answer=answer, facts=facts,
            versions={n: r.version for n, r in results.items()},
            latency_ms={"total": _ms_since(t0), **latency,
                        **{n: r.latency_ms or 0.0 for n, r in results.items()}},
        )

    async def _ask_llm(self, text: str) -> tuple[str, dict, float]:
        """(answer, what the LLM used, ms) — or the reason it could not answer."""
        if self.llm is None:
            return ("This is a free-form question for the ontology encoder + tiny LLM, which "
                    "this server does not run (llm: false).", {}, 0.0)
        t0 = time.perf_counter()
        r = await self.llm.ask.remote(text)
        ms = round((time.perf_counter() - t0) * 1000, 3)
        if "error" in r:
            return f"The ontology encoder + tiny LLM could not answer: {r['error']}", {}, ms
        used = {"entities": [e["name"] for e in r["entities"]], "versions": r["versions"],
                "prompt_tokens": r["prompt_tokens"], "answer_entity": r.get("answer_entity")}
        return r["answer"], used, ms

    async def ask(self, req: AskRequest) -> dict:
        if self.llm is None:
            raise TinyExpertsError("this server does not run the tiny LLM", where="/v1/ask",
                                   status=503, fix="serve with `llm: true` in the app args")
        r = await self.llm.ask.remote(req.question, req.mode, req.max_new_tokens,
                                      req.decode, req.ontology)
        if "error" in r:
            raise TinyExpertsError(r["error"], where="/v1/ask", status=r["status"])
        return r

    async def predict_one(self, name: str, req: PredictRequest) -> ExpertResult:
        kind = EXPERTS[name].kind if name in EXPERTS else None
        self._handle(name)
        inputs = []
        for i, x in enumerate(req.inputs):
            if (kind == "pair") != isinstance(x, PairInput):
                want = '{"a": ..., "b": ...}' if kind == "pair" else "a string"
                raise TinyExpertsError(f"inputs[{i}] must be {want} for expert {name}",
                                       where="inputs", status=422,
                                       fix=f"send every input as {want}")
            inputs.append(x.model_dump() if isinstance(x, PairInput) else x)
        return await self._call(name, inputs, req.top_k)

    def _check_admin(self, authorization: str | None) -> None:
        token = os.environ.get(self.args.admin_token_env, "")
        if not token:  # a choice of the operator, not an outage: 403, not 503
            raise HTTPException(403, f"admin API disabled: set {self.args.admin_token_env} "
                                     "in the server's environment to enable it")
        given = (authorization or "").removeprefix("Bearer ").strip()
        if not hmac.compare_digest(given.encode(), token.encode()):
            raise HTTPException(401, "missing or wrong admin token (Authorization: Bearer …)")

    async def _switch(self, name: str, version: str, previous: str) -> dict:
        """Point the expert's live user_config at `version` and wait until it serves it."""
        await set_expert_version(name, version)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            info = await self._handle(name).info.remote()
            if info["version"] == version:
                return {"expert": name, "active": version, "previous": previous}
            if info["last_error"] and version in info["last_error"]:
                raise TinyExpertsError(info["last_error"], where=f"expert {name}", status=409,
                                       fix="the previous version keeps serving")
            await asyncio.sleep(0.2)
        raise TinyExpertsError(f"expert {name} did not report {version} within 60 s",
                               where=f"expert {name}", status=504,
                               fix="check `tinyexperts status`")

    # ---- HTTP -------------------------------------------------------------------------

    @api.get("/healthz")
    async def healthz(self) -> dict:
        infos = await asyncio.gather(*(h.info.remote() for h in self.experts.values()))
        experts = {i["expert"]: {"version": i["version"], "ready": i["ready"]} for i in infos}
        llm = "off"
        if self.llm is not None:
            info = await self.llm.info.remote()
            llm = ("ready" if info["ready"] else "loads on first question"
                   if not info["last_error"] else f"error: {info['last_error']}")
        if self.router is not None:  # follow the registry here too, not only on queries
            await self._active_router()
        router = self.router.version if self.router is not None else (
            "loads on first query" if self.registry.versions(ROUTER) else "not built")
        if self.router_error:
            router = f"{router} ({self.router_error})"
        answers = ("ready" if self.composer is not None else
                   self.composer_error or "loads on first query")
        return {"status": "ok" if all(e["ready"] for e in experts.values()) else "degraded",
                "experts": experts, "router": router, "llm": llm, "answers": answers}

    @api.get("/v1/experts")
    async def list_experts(self) -> dict:
        """Each expert as one of its replicas reports it, plus: its registered versions,
        its running replicas, and its live latency as this Ingress replica saw it (its last
        LIVE_WINDOW successful calls)."""
        infos = await asyncio.gather(*(h.info.remote() for h in self.experts.values()))
        replicas = await asyncio.to_thread(_running_replicas)
        for info in infos:
            name = info["expert"]
            info["versions"] = await asyncio.to_thread(self.registry.versions, name)
            info["replicas"] = replicas.get(f"Expert_{name}")
            recent = list(self.recent.get(name, ()))
            info["live"] = latency_summary(recent) if recent else {"n": 0}
        return {"experts": infos}

    @api.get("/", include_in_schema=False)
    async def console(self) -> HTMLResponse:
        """The console: one static page (services/console/), no build step, no CDN."""
        return HTMLResponse(CONSOLE_PAGE.read_text(encoding="utf-8"))

    @api.get("/console/{name}", include_in_schema=False)
    async def console_file(self, name: str) -> Response:
        if name not in CONSOLE_FILES:
            raise HTTPException(404, f"no console file {name!r}")
        return Response((CONSOLE_DIR / name).read_bytes(), media_type=CONSOLE_FILES[name])

    @api.post("/v1/query", response_model=QueryResponse)
    async def http_query(self, req: QueryRequest) -> QueryResponse:
        return await self.query(req)

    @api.post("/v1/ask")
    async def http_ask(self, req: AskRequest) -> dict:
        return await self.ask(req)

    @api.post("/v1/experts/{name}/predict", response_model=ExpertResult)
    async def http_predict(self, name: str, req: PredictRequest) -> ExpertResult:
        result = await self.predict_one(name, req)
        if result.status != 200:  # e.g. its replica died mid-request: 503, with the reason
            return JSONResponse(result.model_dump(), status_code=result.status)
        return result

    @api.post("/v1/experts/{name}/activate")
    async def http_activate(self, name: str, req: ActivateRequest,
                            authorization: str | None = Header(None)) -> dict:
        self._check_admin(authorization)
        if name != ROUTER:
            self._handle(name)
        reg = self.registry
        await asyncio.to_thread(reg.verify, name, req.version)  # refuse before touching Serve
        previous = await asyncio.to_thread(reg.activate, name, req.version)
        if name == ROUTER:
            return await self._switch_router(req.version, previous)
        return await self._switch(name, req.version, previous)

    @api.post("/v1/experts/{name}/rollback")
    async def http_rollback(self, name: str, authorization: str | None = Header(None)) -> dict:
        self._check_admin(authorization)
        if name != ROUTER:
            self._handle(name)
        reg = self.registry
        previous = await asyncio.to_thread(reg.active, name)
        version = await asyncio.to_thread(reg.rollback, name)
        if name == ROUTER:
            return await self._switch_router(version, previous)
        return await self._switch(name, version, previous)

    # ---- gRPC (method names match the service in tinyexperts.proto) ---------------------

    async def Query(self, request, grpc_context=None):  # noqa: N802 - gRPC method name
        from services.grpc_codec import (  # the generated gRPC stubs load on first gRPC call
            grpc_error,
            query_from_proto,
            query_reply,
        )

        try:
            req = query_from_proto(request)
            return query_reply(await self.query(req))
        except (TinyExpertsError, ValueError) as err:
            return grpc_error(grpc_context, err, "QueryReply")

    async def Predict(self, request, grpc_context=None):  # noqa: N802 - gRPC method name
        from services.grpc_codec import (  # the generated gRPC stubs load on first gRPC call
            grpc_error,
            predict_from_proto,
            predict_reply,
        )

        try:
            name, req = predict_from_proto(request)
            return predict_reply(await self.predict_one(name, req))
        except (TinyExpertsError, ValueError) as err:
            return grpc_error(grpc_context, err, "PredictReply")
