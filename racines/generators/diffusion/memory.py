"""GPU memory, planned before a pipeline loads rather than discovered by running out of it.

:func:`plan` weighs a pipeline from the safetensors headers of its folder (parameter counts
times the size of the precision it loads in: no tensor is read), adds an estimate of the
activations from the generation's size, compares both with the GPU's free memory, and
chooses the offload:

* ``none``: everything on the GPU, when weights + activations fit;
* ``model``: diffusers' ``enable_model_cpu_offload``: one component on the GPU at a time, when
  the largest component + activations fit. The text encoder leaves the GPU once the prompt
  is encoded, so encoding the prompt separately gains nothing here;
* ``group``: diffusers' group offloading (``enable_group_offload``, leaf level, with CUDA
  streams: the next layers load while the current ones run), when even that does not fit.
  Never sequential offload: group offload with streams holds as little and runs several times
  faster. Every component is streamed, the text encoder too.

A shot's ``memory: offload:`` other than ``auto`` wins over the plan. The choice and its
figures go into the take's report.

The activation estimate (documented, deliberately simple, with a margin): a video latent has
``latent_frames = (frames - 1) // 4 + 1`` frames of ``height / 8 x width / 8`` pixels (the
VAEs' usual compression; a VAE config that states its ratios is read instead); the denoiser
sees ``tokens = latent_frames x (height / 16) x (width / 16)`` (2x2 patches). Attention runs
in PyTorch's SDPA (flash or memory-efficient kernels), whose memory grows with the tokens, not
their square, so a transformer block's peak is about ``ACTIVATION_FACTOR`` hidden-size vectors
per token, twice with classifier-free guidance. The VAE decode, which runs after the
denoiser, needs about ``DECODE_FACTOR`` bytes per output pixel and frame at full resolution
(its widest feature maps; an upper bound for Wan's causal VAE, which decodes a few frames at a
time); when that does not fit beside the weights left on the GPU, VAE tiling is planned too.

Out-of-memory errors have many spellings (CUDA, cuBLAS, cuDNN, ROCm, MPS): :func:`is_out_of_memory`
knows them all, for the retry in :mod:`.runtime` and the batch's retry policy alike.
"""

from __future__ import annotations

import json
import math
import os
import struct
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

GIB = 1 << 30
#: bytes per element of each safetensors dtype
DTYPE_BYTES = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2, "F8_E4M3": 1, "F8_E5M2": 1, "F8_E8M0": 1, "F4": 1,
               "I64": 8, "U64": 8, "I32": 4, "U32": 4, "I16": 2, "U16": 2, "I8": 1, "U8": 1, "BOOL": 1}
#: components whose weights are not loaded (see runtime.load: SD's checker)
SKIPPED = ("safety_checker",)
DENOISERS = ("transformer", "transformer_2", "unet", "prior", "decoder")
ACTIVATION_FACTOR = 24      # hidden-size vectors per token at a block's peak (q, k, v, out, 4x MLP, norms...)
DECODE_FACTOR = 128 * 2 * 3  # a 128-channel feature map at full size, 2 bytes, ~3 alive at once
HEADROOM = 0.9               # of the free memory: allocator fragmentation, cuBLAS/cuDNN workspaces
HEADER_LIMIT = 100 << 20     # a safetensors header longer than this is not a header
#: what the planner may choose, and what a shot may ask for
OFFLOADS = ("none", "model", "group")

#: lower-case words of the messages of out-of-memory errors that are not torch.OutOfMemoryError
OOM_MARKERS = (
    "out of memory",                       # "CUDA out of memory", "CUDA error: out of memory", HIP, MPS
    "cublas_status_alloc_failed",          # cuBLAS could not allocate its workspace
    "cudnn_status_not_enough_workspace",   # cuDNN
    "cudnn_status_alloc_failed",
    "cudaerrormemoryallocation",
    "hiperroroutofmemory",
    "outofmemoryerror",
)
OOM_TYPES = ("OutOfMemoryError",)  # torch.OutOfMemoryError (and torch.cuda.OutOfMemoryError)


def is_out_of_memory(type_name: str, message: str) -> bool:
    """True for an error that says the device ran out of memory, from its type's name and message
    (plain strings: the batch judges failures that crossed a process boundary the same way)."""
    text = message.lower()
    return type_name in OOM_TYPES or any(marker in text for marker in OOM_MARKERS)


ALLOC_VARIABLES = ("PYTORCH_CUDA_ALLOC_CONF", "PYTORCH_ALLOC_CONF")
ALLOC_SETTING = "expandable_segments:True"


def allocator_settings(environ: dict | None = None) -> list[str]:
    """Ask PyTorch's CUDA allocator for expandable segments (less fragmentation: a video model's
    activations change size from step to step), unless the user chose allocator settings. Must
    run before torch initialises CUDA (the allocator reads it once); returns what it set."""
    environ = os.environ if environ is None else environ
    if any(environ.get(name) for name in ALLOC_VARIABLES):
        return []
    for name in ALLOC_VARIABLES:  # PYTORCH_ALLOC_CONF is the newer name, PYTORCH_CUDA_ALLOC_CONF the older
        environ[name] = ALLOC_SETTING
    return list(ALLOC_VARIABLES)


# --- weights from the safetensors headers --------------------------------------------------------


class HeaderUnreadable(ValueError):
    pass


def header(path: Path) -> dict:
    """The JSON header of a safetensors file: ``{name: {"dtype", "shape", "data_offsets"}}``. It is
    an 8-byte little-endian length then that many bytes of JSON; no tensor is read."""
    with open(path, "rb") as handle:
        head = handle.read(8)
        if len(head) != 8:
            raise HeaderUnreadable(f"{path}: not a safetensors file (shorter than its header's length)")
        length = struct.unpack("<Q", head)[0]
        if length > HEADER_LIMIT or length > os.fstat(handle.fileno()).st_size - 8:
            raise HeaderUnreadable(f"{path}: not a safetensors file (a header of {length} bytes)")
        try:
            data = json.loads(handle.read(length))
        except ValueError as exc:
            raise HeaderUnreadable(f"{path}: the safetensors header is not JSON ({exc})") from None
    if not isinstance(data, dict):
        raise HeaderUnreadable(f"{path}: the safetensors header is not a JSON object")
    return {name: value for name, value in data.items() if name != "__metadata__" and isinstance(value, dict)}


@dataclass(frozen=True)
class Tensors:
    parameters: int      # floating-point elements
    others: int          # bytes of the other tensors (integer buffers), kept as they are
    stored: int          # bytes as stored in the files

    def bytes_at(self, element: int) -> int:
        """Bytes once loaded with floating-point tensors of ``element`` bytes each."""
        return self.parameters * element + self.others


def tensors_of(files: list[Path]) -> Tensors:
    parameters = others = stored = 0
    for path in files:
        for name, tensor in header(path).items():
            dtype = str(tensor.get("dtype", ""))
            if dtype not in DTYPE_BYTES:
                raise HeaderUnreadable(f"{path}: tensor {name!r} has an unknown dtype {dtype!r}")
            count = math.prod(int(side) for side in tensor.get("shape", []))
            stored += count * DTYPE_BYTES[dtype]
            if dtype.startswith(("F", "BF")):
                parameters += count
            else:
                others += count * DTYPE_BYTES[dtype]
    return Tensors(parameters, others, stored)


def weight_files(folder: Path, variant: str | None = None) -> dict[str, list[Path]]:
    """The safetensors files of each component of a pipeline folder (``transformer``, ``vae``...;
    ``""`` for a single-model folder), of the variant when the folder has it."""
    found: dict[str, list[Path]] = {}
    for path in sorted(Path(folder).rglob("*.safetensors")):
        relative = path.relative_to(folder).parts
        found.setdefault(relative[0] if len(relative) > 1 else "", []).append(path)
    for part, files in found.items():
        chosen = [f for f in files if variant and f".{variant}." in f.name]
        found[part] = chosen or [f for f in files if f.name.count(".") == 1] or files  # no variant infix
    return {part: files for part, files in found.items() if part not in SKIPPED}


def component_bytes(folder: Path, element: int, float32_parts: tuple[str, ...] = (),
                    variant: str | None = None) -> dict[str, int]:
    """Each component's weights once loaded: floating-point tensors at ``element`` bytes (4 for
    the ``float32_parts``), the others as stored."""
    return {part: tensors_of(files).bytes_at(4 if part in float32_parts else element)
            for part, files in weight_files(folder, variant).items()}


# --- activations ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Shape:
    """What the pipeline is asked to make (the generator's plan) and how (guidance, latents)."""

    frames: int
    height: int
    width: int
    guidance: bool = True          # classifier-free guidance doubles the batch


def _config(folder: Path, part: str) -> dict:
    try:
        data = json.loads((Path(folder) / part / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _first(config: dict, *names: str, default: int) -> int:
    """The first of ``names`` the config states as a whole number (a list: its last, e.g. the
    spatial side of Wan's ``patch_size`` [1, 2, 2], or a UNet's widest ``block_out_channels``)."""
    for name in names:
        value = config.get(name)
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return value
        if isinstance(value, list) and value and all(isinstance(v, int) for v in value):
            return int(value[-1])
    return default


def _compression(vae: dict, axis: str, default: int) -> int:
    """The VAE's compression along ``axis`` ("spatial", "temporal"): stated (LTX, CogVideoX: *_compression_ratio;
    Wan: scale_factor_*), or LTX's rule, its patch size times 2 per scaling block."""
    stated = _first(vae, f"{axis}_compression_ratio", f"scale_factor_{axis}", default=0)
    scaling = vae.get("spatio_temporal_scaling")
    if not stated and isinstance(scaling, list):
        stated = _first(vae, "patch_size" if axis == "spatial" else "patch_size_t", default=1) * 2 ** sum(map(bool, scaling))
    return stated or default


def activation_bytes(folder: Path, shape: Shape, element: int) -> tuple[int, int, dict]:
    """(denoiser peak, decode peak, the figures they come from): see the module's docstring."""
    vae = _config(folder, "vae")
    denoiser = next((c for c in (_config(folder, p) for p in DENOISERS) if c), {})
    temporal = _compression(vae, "temporal", 4)
    spatial = _compression(vae, "spatial", 8)
    patch = _first(denoiser, "patch_size", default=2)
    latent_frames = (shape.frames - 1) // temporal + 1
    tokens = latent_frames * max(1, shape.height // (spatial * patch)) * max(1, shape.width // (spatial * patch))
    heads, head_dim = denoiser.get("num_attention_heads"), denoiser.get("attention_head_dim")
    hidden = (heads * head_dim if isinstance(heads, int) and isinstance(head_dim, int)
              else _first(denoiser, "inner_dim", "hidden_size", "block_out_channels", default=3072))
    batch = 2 if shape.guidance else 1
    denoise = tokens * hidden * element * ACTIVATION_FACTOR * batch
    decode = shape.frames * shape.height * shape.width * DECODE_FACTOR
    return denoise, decode, {"tokens": tokens, "hidden": hidden, "latent_frames": latent_frames}


# --- the plan ------------------------------------------------------------------------------------


def cuda_free() -> tuple[int, int] | None:
    """(free, total) bytes of the current CUDA device; None without one."""
    import torch

    if not torch.cuda.is_available():
        return None
    free, total = torch.cuda.mem_get_info()
    return int(free), int(total)


@dataclass
class MemoryPlan:
    offload: str                      # none | model | group | sequential (asked for)
    vae_tiling: bool
    reason: str
    weights: dict[str, int] = field(default_factory=dict)   # bytes per component, as loaded
    denoise_bytes: int = 0
    decode_bytes: int = 0
    free_bytes: int | None = None
    figures: dict = field(default_factory=dict)

    def report(self) -> dict:
        """The plan for the take's report: bytes, and GiB beside them for reading."""
        data = asdict(self)
        data["weights_total"] = sum(self.weights.values())
        for name in ("weights_total", "denoise_bytes", "decode_bytes", "free_bytes"):
            value = data[name]
            data[name.replace("_bytes", "") + "_gib"] = None if value is None else round(value / GIB, 3)
        return data


def plan(folder: Path, shape: Shape, element: int, on: str, asked: str = "auto", vae_tiling: bool = False,
         float32_parts: tuple[str, ...] = (), variant: str | None = None, reclaimable: int = 0,
         measure: Callable[[], tuple[int, int] | None] = cuda_free) -> MemoryPlan:
    """Choose the offload for one generation before its pipeline loads (see the module docstring).

    ``element``: bytes per weight at the loading precision; ``asked``: the shot's ``memory:
    offload:`` (``auto`` lets the plan choose); ``reclaimable``: GPU bytes that pipelines kept
    resident hold and that would be given back; ``measure``: the free and total GPU memory."""
    weights = component_bytes(folder, element, float32_parts, variant)
    denoise, decode, figures = activation_bytes(folder, shape, element)
    chosen = MemoryPlan("none", vae_tiling, "", weights, denoise, decode, figures=figures)
    if asked != "auto":
        chosen.offload, chosen.reason = asked, "memory: offload: in the shot file"
        return chosen
    measured = measure() if on.startswith("cuda") else None
    if measured is None:
        chosen.reason = "not on a CUDA GPU: nothing to offload"
        return chosen
    free = measured[0] + reclaimable
    chosen.free_bytes = free
    budget = free * HEADROOM
    total, largest = sum(weights.values()), max(weights.values(), default=0)
    if total + denoise <= budget:
        chosen.reason = "weights and activations fit"
    elif largest + denoise <= budget:
        chosen.offload, chosen.reason = "model", "the largest component and the activations fit, not all weights"
    else:
        chosen.offload, chosen.reason = "group", "not even the largest component fits beside the activations"
        if denoise > budget:
            chosen.reason += "; the activations alone exceed the free memory: fewer frames or a smaller size"
    # the decode runs once the denoiser is done, beside what stays on the GPU: all the weights without
    # offload, the VAE alone with either offload (group offload keeps the VAE on the GPU whole)
    beside = total if chosen.offload == "none" else weights.get("vae", 0)
    if not vae_tiling and beside + decode > budget:
        chosen.vae_tiling = True
        chosen.reason += "; VAE tiling: the decode would not fit whole"
    return chosen
