"""Out-of-domain probe text for selectivity scoring: real English prose available offline.

Default source: the docstrings of Python standard-library modules shipped with the
interpreter (argparse, email, http, json, ...) — general technical English with no car
parts or trouble codes in it. A recipe may point at any UTF-8 text file instead (one text
per line).
"""

from __future__ import annotations

import importlib
import inspect
import random
import re
from pathlib import Path

from experts.core.errors import TinyExpertsError

STDLIB_MODULES = ("argparse", "asyncio", "calendar", "collections", "contextlib", "csv",
                  "datetime", "decimal", "difflib", "email", "fractions", "ftplib", "gettext",
                  "heapq", "html", "http.client", "imaplib", "json", "logging", "mailbox",
                  "random", "sched", "secrets", "shutil", "smtplib", "socket", "statistics",
                  "string", "subprocess", "tarfile", "textwrap", "threading", "turtle",
                  "unittest", "urllib.request", "uuid", "wave", "zipfile")


def _sentences(text: str) -> list[str]:
    text = re.sub(r"\s+", " ", text)
    parts = re.split(r"(?<=[.!?])\s+", text)
    return [p for p in parts if 30 <= len(p) <= 300 and p[0].isupper() and ">>>" not in p]


def stdlib_docstrings() -> list[str]:
    out: list[str] = []
    for name in STDLIB_MODULES:
        try:
            mod = importlib.import_module(name)
        except Exception:  # noqa: BLE001 - a missing optional module only shrinks the probe set
            continue
        docs = [inspect.getdoc(mod) or ""]
        docs += [inspect.getdoc(obj) or "" for _, obj in inspect.getmembers(mod)
                 if (inspect.isclass(obj) or inspect.isfunction(obj))
                 and getattr(obj, "__module__", "").startswith(name)]
        for doc in docs:
            out.extend(_sentences(doc))
    return out


def probe_texts(source: str = "stdlib-docs", n: int = 256, seed: int = 0) -> list[str]:
    if source == "stdlib-docs":
        texts = stdlib_docstrings()
    else:
        path = Path(source)
        if not path.is_file():
            raise TinyExpertsError(f"probe file {source!r} not found", where="recipe prune.probes",
                                   fix="use 'stdlib-docs' or a UTF-8 text file, one text per line")
        texts = [t.strip() for t in path.read_text(encoding="utf-8").splitlines() if t.strip()]
    texts = sorted(set(texts))
    random.Random(seed).shuffle(texts)
    return texts[:n]
