"""Small helpers shared by the CLI command modules (output, the registry, name lists)."""

from __future__ import annotations

import json
import os

from experts.errors import TinyExpertsError


def print_out(obj, as_json: bool) -> None:
    if as_json:
        print(json.dumps(obj, indent=1, default=str))
    elif isinstance(obj, str):
        print(obj)
    else:
        print(json.dumps(obj, indent=1, default=str))


def registry():
    from experts.assets import home
    from experts.build import Paths
    from experts.registry import Registry

    return Registry(Paths(home()).registry)


def expert_names(text: str | None) -> list[str] | None:
    return [n.strip() for n in text.split(",") if n.strip()] if text else None


def http_json(method: str, url: str, body: dict | None = None) -> dict:
    import urllib.error
    import urllib.request

    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method,
                                 headers={"Content-Type": "application/json"})
    token = os.environ.get("TINYEXPERTS_ADMIN_TOKEN")
    if token and url.rsplit("/", 1)[-1] in ("activate", "rollback"):
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=120) as r:
            return json.loads(r.read())
    except urllib.error.HTTPError as err:
        detail = err.read().decode(errors="replace")
        try:
            detail = json.loads(detail).get("detail", detail)
        except json.JSONDecodeError:
            pass
        raise TinyExpertsError(f"server answered {err.code}: {detail}", where=url,
                               fix="see the message; `tinyexperts status` shows the experts") \
            from None
    except (urllib.error.URLError, ConnectionError, TimeoutError) as err:
        raise TinyExpertsError(f"server not reachable ({getattr(err, 'reason', err)})",
                               where=url, fix="start it with `tinyexperts serve`") from None
