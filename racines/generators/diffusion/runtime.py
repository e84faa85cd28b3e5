"""Where and how diffusion pipelines run.

* device: CUDA when present (``RACINES_DEVICE`` overrides), else the CPU;
* precision: bfloat16 on CUDA, float32 on the CPU (``precision:`` in the shot overrides);
* attention: PyTorch's scaled-dot-product attention (SDPA), diffusers' default processors;
* seeds: a CPU ``torch.Generator``, so a seed gives the same noise on any machine;
* loading: offline (``HF_HUB_OFFLINE``, ``local_files_only``), safetensors only, from the folder
  :mod:`racines.models` resolved and checked; the last pipeline is kept for the next shot;
* memory: model/sequential CPU offload (CUDA only: diffusers raises without an accelerator),
  VAE tiling, and one retry in a lower-memory mode after running out of memory.
"""

from __future__ import annotations

import gc
import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field

# Before diffusers or transformers are imported anywhere: nothing is ever fetched from the Hub.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

import torch  # noqa: E402

from racines.models.resolve import ResolvedModel  # noqa: E402

PRECISIONS = {"bfloat16": torch.bfloat16, "float16": torch.float16, "float32": torch.float32}


def device() -> str:
    chosen = os.environ.get("RACINES_DEVICE")
    if chosen:
        return chosen
    return "cuda" if torch.cuda.is_available() else "cpu"


def dtype_for(precision: str, on: str, variant: str | None = None) -> torch.dtype:
    if precision == "auto":
        if not on.startswith("cuda"):
            return torch.float32
        # weights published as a half-precision variant (SVD's fp16) run in it, as their model card
        # does: rounding fp16 weights again to bf16's shorter mantissa only loses precision
        return PRECISIONS.get({"fp16": "float16", "bf16": "bfloat16"}.get(variant or ""), torch.bfloat16)
    return PRECISIONS[precision]


def seeded(seed: int) -> torch.Generator:
    """Noise drawn on the CPU is the same on every machine (diffusers moves it to the device)."""
    return torch.Generator("cpu").manual_seed(seed)


def out_of_memory(exc: BaseException) -> bool:
    return isinstance(exc, torch.OutOfMemoryError) or (
        isinstance(exc, RuntimeError) and "out of memory" in str(exc).lower())


@dataclass(frozen=True)
class Loading:
    """Everything that decides the state of a loaded pipeline (the cache key of :func:`load`)."""

    pipeline: str                              # diffusers class name
    model: ResolvedModel
    dtype: torch.dtype
    device: str
    loras: tuple[tuple[str, float], ...] = ()  # (absolute path, scale)
    offload: str = "none"
    vae_tiling: bool = False


@dataclass
class Loaded:
    pipe: object
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0


_last: tuple[Loading, Loaded] | None = None


def load(spec: Loading) -> Loaded:
    """The pipeline for ``spec``, reusing the one loaded for the previous shot when it is the same."""
    global _last
    if _last is not None:
        if _last[0] == spec:
            return _last[1]
        release()  # another model: give its memory back first (a full collection costs a few 100 ms)
    import diffusers

    started = time.perf_counter()
    cls = getattr(diffusers, spec.pipeline)
    kwargs = {"dtype": component_dtypes(spec.pipeline, spec.dtype), "use_safetensors": True,
              "local_files_only": True}
    if spec.model.entry.variant:
        kwargs["variant"] = spec.model.entry.variant
    notes = []
    index = model_index(spec.model)
    if (index.get("safety_checker") or [None])[0] is not None:
        # SD 1.x/2.x's checker replaces a frame it flags with a black one, silently: a keyframe
        # made black would become a clip's last frame. The take is reviewed by a person instead.
        kwargs.update(safety_checker=None, requires_safety_checker=False)
        notes.append("safety checker not loaded (it blacks out flagged images without an error)")
    pipe = cls.from_pretrained(str(spec.model.folder), **kwargs)
    pipe.set_progress_bar_config(disable=True)
    if spec.loras:
        _apply_loras(pipe, spec.loras)
    notes += place(pipe, spec.device, spec.offload)
    if spec.vae_tiling:
        notes += vae_tiling(pipe)
    loaded = Loaded(pipe, notes, round(time.perf_counter() - started, 3))
    _last = (spec, loaded)
    return loaded


#: components kept in float32 whatever the pipeline's precision: Wan's model cards and diffusers'
#: Wan docs load its VAE and CLIP image encoder in float32 (the pipelines cast to them). Not LTX:
#: its pipeline casts latents to the prompt's dtype, so an fp32 VAE would get bf16 input.
FLOAT32_PARTS = {"Wan": ("vae", "image_encoder")}


def component_dtypes(pipeline: str, dtype: torch.dtype):
    """The ``dtype`` argument of ``from_pretrained``: one dtype, or one per component."""
    parts = next((p for prefix, p in FLOAT32_PARTS.items() if pipeline.startswith(prefix)), ())
    if not parts or dtype == torch.float32:
        return dtype
    return {"default": dtype, **dict.fromkeys(parts, torch.float32)}


def model_index(model: ResolvedModel) -> dict:
    """The pipeline folder's model_index.json (empty when unreadable: the safety check reads it first)."""
    try:
        index = json.loads((model.folder / "model_index.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return index if isinstance(index, dict) else {}


def _apply_loras(pipe, loras: tuple[tuple[str, float], ...]) -> None:
    if not hasattr(pipe, "load_lora_weights"):
        raise ValueError(f"{type(pipe).__name__} cannot load LoRA adapters")
    names = []
    for index, (path, _) in enumerate(loras):
        name = f"racines_{index}"
        pipe.load_lora_weights(path, adapter_name=name)  # a .safetensors file, checked by the loader
        names.append(name)
    pipe.set_adapters(names, adapter_weights=[scale for _, scale in loras])


def place(pipe, on: str, offload: str) -> list[str]:
    """Move the pipeline to the device, or offload it. Offload needs CUDA: diffusers raises
    'requires accelerator' on a machine without one, so there it is skipped and said."""
    if offload != "none":
        if on.startswith("cuda") and torch.cuda.is_available():
            if offload == "model":
                pipe.enable_model_cpu_offload()
            else:
                pipe.enable_sequential_cpu_offload()
            return [f"{offload} CPU offload"]
        pipe.to(on)
        return [f"{offload} offload skipped: it needs a CUDA GPU (diffusers raises without one)"]
    pipe.to(on)
    return []


def vae_tiling(pipe) -> list[str]:
    vae = getattr(pipe, "vae", None)
    try:
        vae.enable_tiling()
    except (AttributeError, NotImplementedError):
        # SVD's temporal decoder has no tiling: its memory saver is decode_chunk_size
        return [f"{type(vae).__name__} has no tiling"]
    return ["VAE tiling"]


def release() -> None:
    """Forget the cached pipeline and give its memory back."""
    global _last
    _last = None
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def run_with_retry(call: Callable[[], object], lower: Callable[[], list[str]]) -> tuple[object, list[str]]:
    """Run ``call``; after an out-of-memory error, free memory, switch to a lower-memory mode with
    ``lower()`` (which returns what it changed) and run once more. A second failure propagates."""
    try:
        return call(), []
    except Exception as exc:  # noqa: BLE001 - only out-of-memory is retried
        if not out_of_memory(exc):
            raise
    global _last
    _last = None  # the pipeline's state is about to change: never reuse it as loaded
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    notes = ["out of memory: retried with " + (", ".join(lower()) or "the same settings")]
    return call(), notes


def lower_memory(pipe, spec: Loading) -> list[str]:
    """The lower-memory mode for a retry: model offload (CUDA only) and VAE tiling."""
    changes = []
    if spec.offload == "none" and spec.device.startswith("cuda") and torch.cuda.is_available():
        pipe.enable_model_cpu_offload()
        changes.append("model CPU offload")
    changes += [n for n in vae_tiling(pipe) if n == "VAE tiling"]
    return changes
