"""Small helpers shared by the CLI command modules (output, the registry, name lists).

Heavy imports stay inside the functions on purpose (see services/cli.py).
"""

from __future__ import annotations

import json


def print_out(obj, as_json: bool) -> None:
    if as_json:
        print(json.dumps(obj, indent=1, default=str))
    elif isinstance(obj, str):
        print(obj)
    else:
        print(json.dumps(obj, indent=1, default=str))


def registry():
    from experts.core.assets import home
    from experts.core.paths import Paths
    from experts.core.registry import Registry

    return Registry(Paths(home()).registry)


def expert_names(text: str | None) -> list[str] | None:
    return [n.strip() for n in text.split(",") if n.strip()] if text else None


def stop_on_signals() -> None:
    """Ctrl-C and SIGTERM both raise KeyboardInterrupt, even when started in the background
    (where a shell leaves SIGINT ignored), so a long command stops cleanly either way."""
    import signal

    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.default_int_handler)
