"""An expert's files: every format an artifact can hold, and the one loader for all of them.

- "torch-fp32": `ExpertModel.save` / `ExpertModel.load` (config.json records the pruned
  structure, see `experts.structure`, so a pruned model reloads at its own size).
- "torch-int8": PyTorch dynamic quantization (int8 weights per output channel, activations
  quantized on the fly) of every Linear. Saved without pickle: each quantized Linear as
  int8 weights + per-channel scales/zero points + fp32 bias in safetensors; the (pruned)
  word embeddings as int8 rows with one scale per row, dequantized at load.
- "onnx-int8": export to ONNX, then ONNX Runtime dynamic int8 (MatMul and the embedding
  Gather). Runs in an `OnnxExpertModel` that answers like an ExpertModel.
Either can keep the word embeddings in float32 (`embeddings="fp32"`: a recipe's quantize
step chooses it where int8 rows cost quality on validation).
"""

from __future__ import annotations

import copy
import json
import tempfile
import warnings
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from torch import nn
from torch.ao.nn.quantized.dynamic import Linear as QLinear
from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic

from experts.core.errors import ArtifactError
from experts.core.registry import MANIFEST
from experts.encoding import TEXT_FORMS
from experts.model import ExpertModel, HeadConfig, read_config

BACKENDS = ("torch-int8", "onnx-int8")
# An int8 student also keeps its weights as they were before quantization, so that an update
# can start the next student from them instead of from the teacher (`experts.specialize.warm`).
# The server never reads them; they are not counted in the served artifact's bytes.
WARM_START_FILES = ("warm_start.json", "warm_start.safetensors")


def backend_of(folder: Path) -> str:
    """The backend an artifact's config.json records: torch-fp32 (default) or an int8 one."""
    return read_config(folder).get("backend", "torch-fp32")


def load_expert_model(folder: Path):
    """Any backend an artifact records: torch fp32, torch dynamic int8, ONNX Runtime int8."""
    backend = backend_of(folder)
    model = ExpertModel.load(folder) if backend == "torch-fp32" else load_quantized(folder,
                                                                                   backend)
    if model.head_config.text_form not in TEXT_FORMS:
        raise ArtifactError(f"the model reads its input rewritten as "
                            f"{model.head_config.text_form!r}, which this tinyexperts does not "
                            f"know", where=str(folder / "config.json"),
                            fix=f"rewrites known: {sorted(TEXT_FORMS)}; re-register the model "
                                f"with a current tinyexperts")
    return model


INPUT_NAMES = ["input_ids", "attention_mask", "token_type_ids"]


def save_warm_start(model: ExpertModel, folder: Path) -> None:
    """The fp32 student an int8 artifact was quantized from, beside it."""
    config, weights = (folder / name for name in WARM_START_FILES)
    config.write_text(json.dumps(model.config_dict(), indent=1), encoding="utf-8")
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(weights))


def has_warm_start(folder: Path) -> bool:
    return all((folder / name).is_file() for name in WARM_START_FILES)


def load_warm_start(folder: Path) -> ExpertModel | None:
    """The fp32 student saved by `save_warm_start`, or None when the artifact has none."""
    if not has_warm_start(folder):
        return None
    config, weights = (folder / name for name in WARM_START_FILES)
    model = ExpertModel.skeleton(json.loads(config.read_text(encoding="utf-8")))
    model.load_state_dict(load_file(str(weights)))
    return model.eval()


def served_bytes(folder: Path) -> int:
    """Bytes of what a server loads: every file but the manifest and the warm start."""
    skip = {MANIFEST, *WARM_START_FILES}
    return sum(f.stat().st_size for f in folder.iterdir() if f.is_file() and f.name not in skip)


def torch_dynamic_int8(model: ExpertModel) -> ExpertModel:
    """Every nn.Linear -> dynamically quantized int8 (per-channel weights)."""

    with warnings.catch_warnings():  # torch.ao.quantization's deprecation notices
        warnings.simplefilter("ignore")
        return quantize_dynamic(copy.deepcopy(model).eval(),
                                {nn.Linear: per_channel_dynamic_qconfig}, dtype=torch.qint8)


def _quantized_linears(model: nn.Module) -> dict[str, nn.Module]:

    return {n: m for n, m in model.named_modules() if isinstance(m, QLinear)}


def save_torch_int8(q: ExpertModel, folder: Path, config: dict, embeddings: str = "int8"
                    ) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    tensors: dict[str, torch.Tensor] = {}
    qlin = _quantized_linears(q)
    for name, m in qlin.items():
        w = m.weight()
        tensors[f"{name}.int8"] = w.int_repr().contiguous()
        tensors[f"{name}.scales"] = w.q_per_channel_scales().float().contiguous()
        tensors[f"{name}.zero_points"] = w.q_per_channel_zero_points().contiguous()
        if m.bias() is not None:
            tensors[f"{name}.bias"] = m.bias().detach().contiguous()
    emb_key = "encoder.embeddings.word_embeddings.weight"
    for key, value in q.state_dict().items():
        if not isinstance(value, torch.Tensor) or key.split("._packed_params")[0] in qlin:
            continue
        if key == emb_key and embeddings == "int8":
            scale = value.abs().amax(dim=1).clamp(min=1e-8) / 127.0
            tensors[f"{key}.int8"] = torch.round(value / scale[:, None]).to(torch.int8)
            tensors[f"{key}.row_scales"] = scale.contiguous()
        else:
            tensors[key] = value.contiguous()
    save_file(tensors, str(folder / "model.safetensors"))
    (folder / "config.json").write_text(json.dumps(config, indent=1), encoding="utf-8")


def load_torch_int8(folder: Path) -> ExpertModel:
    config = read_config(folder)
    tensors = load_file(str(folder / "model.safetensors"))
    skeleton = ExpertModel.skeleton(config)
    linears = {n for n, m in skeleton.named_modules() if isinstance(m, nn.Linear)}
    plain = {}
    emb_key = "encoder.embeddings.word_embeddings.weight"
    for key, value in tensors.items():
        if key == f"{emb_key}.int8":
            plain[emb_key] = value.float() * tensors[f"{emb_key}.row_scales"][:, None]
        elif not key.endswith(".row_scales") and key.rsplit(".", 1)[0] not in linears:
            plain[key] = value
    missing, unexpected = skeleton.load_state_dict(plain, strict=False)
    missing = [k for k in missing if k.rsplit(".", 1)[0] not in linears]
    if missing or unexpected:
        raise ValueError(f"torch-int8 weights do not match the config: missing {missing[:3]}, "
                         f"unexpected {unexpected[:3]}")
    q = torch_dynamic_int8(skeleton)
    qlin = _quantized_linears(q)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name, m in qlin.items():
            w = torch._make_per_channel_quantized_tensor(
                tensors[f"{name}.int8"], tensors[f"{name}.scales"].double(),
                tensors[f"{name}.zero_points"], 0)
            m.set_weight_bias(w, tensors.get(f"{name}.bias"))
    return q.eval()


# ---- ONNX Runtime -------------------------------------------------------------------------

def export_onnx(model: ExpertModel, path: Path) -> None:
    """fp32 ONNX graph with dynamic batch and sequence axes."""
    model = model.eval()
    ids = torch.ones((2, 8), dtype=torch.long)
    args = (ids, torch.ones_like(ids), torch.zeros_like(ids))
    axes = {n: {0: "batch", 1: "tokens"} for n in INPUT_NAMES}
    axes["logits"] = {0: "batch", 1: "tokens"} if model.task == "tag" else {0: "batch"}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, args, str(path), input_names=INPUT_NAMES,
                          output_names=["logits"], dynamic_axes=axes, opset_version=17,
                          dynamo=False)


def save_onnx_int8(model: ExpertModel, folder: Path, embeddings: str = "int8") -> None:

    from onnxruntime.quantization import QuantType, quantize_dynamic  # the onnx-int8 backend only

    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        fp32 = Path(tmp) / "fp32.onnx"
        export_onnx(model, fp32)
        # reduce_range: 7-bit weights. ONNX Runtime's u8s8 int8 kernels on x86 CPUs without
        # VNNI (AVX2 only) add pairs of products in int16 and saturate with 8-bit weights;
        # measured on an AVX2-only EPYC: relative logit error 0.07-0.09 with 8 bits, under
        # 0.05 with 7. Artifacts move between machines, so every one is made safe for both.
        quantize_dynamic(str(fp32), str(folder / "model.onnx"), weight_type=QuantType.QInt8,
                         per_channel=True, reduce_range=True,
                         op_types_to_quantize=["MatMul", "Gather"] if embeddings == "int8"
                         else ["MatMul"])
    config = model.config_dict(backend="onnx-int8")
    (folder / "config.json").write_text(json.dumps(config, indent=1), encoding="utf-8")


class OnnxExpertModel:
    """An ONNX Runtime session that answers like ExpertModel: same inputs, torch logits."""

    def __init__(self, folder: Path) -> None:
        import onnxruntime as ort  # the onnx-int8 backend only

        config = read_config(folder)
        self.head_config = HeadConfig(**config["head"])
        self._params = int(config.get("params", 0))
        self.structure = config.get("structure") or {}
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = torch.get_num_threads()
        opts.inter_op_num_threads = 1
        opts.log_severity_level = 3
        self.session = ort.InferenceSession(str(folder / "model.onnx"), opts,
                                            providers=["CPUExecutionProvider"])
        self.input_names = {i.name for i in self.session.get_inputs()}

    @property
    def task(self):
        return self.head_config.task

    def eval(self) -> OnnxExpertModel:
        return self

    def num_params(self) -> int:
        return self._params

    def __call__(self, input_ids, attention_mask, token_type_ids=None) -> torch.Tensor:
        if token_type_ids is None:
            token_type_ids = torch.zeros_like(input_ids)
        feed = {"input_ids": input_ids, "attention_mask": attention_mask,
                "token_type_ids": token_type_ids}
        feed = {k: np.ascontiguousarray(v.numpy(), dtype=np.int64) for k, v in feed.items()
                if k in self.input_names}
        return torch.from_numpy(self.session.run(["logits"], feed)[0])


def save_quantized(model: ExpertModel, backend: str, folder: Path, embeddings: str = "int8"
                   ) -> ExpertModel | OnnxExpertModel:
    """Write the int8 artifact files and return the model as the runtime will load it;
    `embeddings`: "int8" or "fp32" (the word embeddings; every Linear is int8 either way)."""
    if embeddings not in ("int8", "fp32"):
        raise ValueError(f"embeddings must be int8 or fp32, got {embeddings!r}")
    if backend == "torch-int8":
        save_torch_int8(torch_dynamic_int8(model), folder, model.config_dict(backend),
                        embeddings)
    elif backend == "onnx-int8":
        save_onnx_int8(model, folder, embeddings)
    else:
        raise ValueError(f"unknown backend {backend!r}; use one of {BACKENDS}")
    return load_quantized(folder, backend)


def load_quantized(folder: Path, backend: str):
    if backend == "torch-int8":
        return load_torch_int8(folder)
    if backend == "onnx-int8":
        return OnnxExpertModel(folder)
    raise ArtifactError(f"unknown model backend {backend!r} in config.json", where=str(folder),
                        fix=f"re-register the model; known backends: torch-fp32, "
                            f"{', '.join(BACKENDS)}")
