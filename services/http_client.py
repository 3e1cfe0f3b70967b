"""The one HTTP client of tinyexperts (httpx): the CLI's calls to a running server and the
serving bench's timed requests go through here."""

from __future__ import annotations

import os
import time

import httpx

from experts.core.errors import TinyExpertsError

ADMIN_ACTIONS = ("activate", "rollback")


def _headers(url: str, token: str | None) -> dict[str, str]:
    token = token or (os.environ.get("TINYEXPERTS_ADMIN_TOKEN")
                      if url.rsplit("/", 1)[-1] in ADMIN_ACTIONS else None)
    return {"Authorization": f"Bearer {token}"} if token else {}


def request_json(method: str, url: str, body: dict | None = None, *,
                 token: str | None = None, timeout: float = 120.0) -> dict:
    """One call; a non-2xx answer or an unreachable server becomes a TinyExpertsError."""
    try:
        r = httpx.request(method, url, json=body, headers=_headers(url, token), timeout=timeout)
    except httpx.HTTPError as err:
        raise TinyExpertsError(f"server not reachable ({err})", where=url,
                               fix="start it with `tinyexperts serve`") from None
    if r.is_success:
        return r.json()
    try:
        detail = r.json().get("detail", r.text)
    except ValueError:
        detail = r.text
    raise TinyExpertsError(f"server answered {r.status_code}: {detail}", where=url,
                           fix="see the message; `tinyexperts status` shows the experts")


def timed_post(client: httpx.Client, url: str, body: dict, token: str | None = None
               ) -> tuple[int, float]:
    """(status, milliseconds) of one POST; status 0 when the server could not be reached."""
    t0 = time.perf_counter()
    try:
        status = client.post(url, json=body, headers=_headers(url, token)).status_code
    except httpx.HTTPError:
        status = 0
    return status, (time.perf_counter() - t0) * 1000


def wait_healthy(url: str, timeout_s: float = 180.0) -> dict:
    """Poll `/healthz` until the server answers 200; its JSON."""
    deadline = time.monotonic() + timeout_s
    last = ""
    while time.monotonic() < deadline:
        try:
            r = httpx.get(f"{url}/healthz", timeout=5)
            if r.is_success:
                return r.json()
            last = f"status {r.status_code}"
        except httpx.HTTPError as err:
            last = str(err)
        time.sleep(0.5)
    raise TinyExpertsError(f"server did not answer /healthz within {timeout_s:.0f}s ({last})",
                           where=url, fix="see the Ray logs under /tmp/ray/session_latest/logs")
