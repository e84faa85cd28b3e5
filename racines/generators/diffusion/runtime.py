"""Where and how diffusion pipelines run.

* device: CUDA when present (``RACINES_DEVICE`` overrides), else the CPU;
* precision: bfloat16 on CUDA, float32 on the CPU (``precision:`` in the shot overrides);
* attention: PyTorch's scaled-dot-product attention (SDPA), diffusers' default processors, unless
  the block's ``speed:`` chooses another kernel or compilation (:mod:`~racines.generators.diffusion.speed`);
* seeds: a CPU ``torch.Generator``, so a seed gives the same noise on any machine;
* loading: offline (``HF_HUB_OFFLINE``, ``local_files_only``), safetensors only, from the folder
  :mod:`racines.models` resolved and checked; pipelines stay resident between shots while they
  fit (:mod:`~racines.generators.diffusion.resident`), LoRA adapters switched and fused on top;
* memory: model/sequential CPU offload (CUDA only: diffusers raises without an accelerator),
  VAE tiling, and one retry in a lower-memory mode after running out of memory.
"""

from __future__ import annotations

import gc
import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace

# Before diffusers or transformers are imported anywhere: nothing is ever fetched from the Hub.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

# and before torch initialises CUDA: the allocator's expandable segments (unless the user chose)
from racines.generators.diffusion.memory import allocator_settings, is_out_of_memory  # noqa: E402

allocator_settings()

import torch  # noqa: E402

from racines.generators.diffusion import resident, speed  # noqa: E402
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
    """torch's OutOfMemoryError, and the other spellings of running out of device memory (cuBLAS,
    cuDNN, ROCm, MPS: RuntimeErrors; see :func:`.memory.is_out_of_memory`)."""
    return isinstance(exc, torch.OutOfMemoryError) or (
        isinstance(exc, RuntimeError) and is_out_of_memory(type(exc).__name__, str(exc)))


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
    speed: tuple[tuple[str, object], ...] = ()  # the final: block's speed settings that differ from the defaults


@dataclass
class Loaded:
    pipe: object
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0   # spent in this call: loading from disk, or only switching adapters
    reused: bool = False   # the pipeline was resident already


#: the resident pipelines (:class:`~racines.generators.diffusion.resident.PipelineCache`). A retry
#: after running out of memory and :func:`release` set it to None: every resident pipeline is then
#: dropped (the one in use lives on in its caller's hands only) and the next load starts afresh.
_last: resident.PipelineCache | None = None


def load(spec: Loading) -> Loaded:
    """The pipeline for ``spec``: a resident one when its base (everything but the adapters) was
    loaded before, else loaded now, after evicting what no longer fits; then the adapters."""
    global _last
    if _last is None:
        _last = resident.PipelineCache()
    cache = _last
    started = time.perf_counter()
    base = replace(spec, loras=())
    entry = cache.get(base)
    notes = []
    if entry is None:
        where = resident.where_for(spec.device, spec.offload)
        need = resident.weight_bytes(spec.model.folder, spec.dtype, _float32_parts(spec.pipeline, spec.dtype),
                                     spec.model.entry.variant)
        evicted = cache.make_room(need, where, resident.capacity(spec.device))
        if evicted:
            notes.append("evicted to make room: " + ", ".join(f"{k.model.source} ({k.pipeline})" for k in evicted))
        entry = _load_base(spec, need, where)
        cache.put(base, entry)
        notes.append(f"loaded in {entry.seconds:.1f} s")
    else:
        notes.append(f"resident pipeline reused (use {entry.uses + 1})")
    entry.uses += 1
    try:
        notes = entry.notes + notes + _apply_loras(entry, spec.loras)
    except BaseException:
        cache.evict(base)  # adapters half loaded or half fused: its state is unknown, never reuse it
        raise
    return Loaded(entry.pipe, notes, round(time.perf_counter() - started, 3), reused=entry.uses > 1)


def _load_base(spec: Loading, need: int, where: str) -> resident.Resident:
    """``from_pretrained`` offline, in safetensors, then placed on the device (no adapters)."""
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
    notes += place(pipe, spec.device, spec.offload)
    notes += speed.apply(pipe, dict(spec.speed), spec.device)
    if spec.vae_tiling:
        notes += vae_tiling(pipe)
    return resident.Resident(pipe, notes, round(time.perf_counter() - started, 3), need, where)


#: components kept in float32 whatever the pipeline's precision: Wan's model cards and diffusers'
#: Wan docs load its VAE and CLIP image encoder in float32 (the pipelines cast to them). Not LTX:
#: its pipeline casts latents to the prompt's dtype, so an fp32 VAE would get bf16 input.
FLOAT32_PARTS = {"Wan": ("vae", "image_encoder")}


def _float32_parts(pipeline: str, dtype: torch.dtype) -> tuple[str, ...]:
    if dtype == torch.float32:
        return ()
    return next((p for prefix, p in FLOAT32_PARTS.items() if pipeline.startswith(prefix)), ())


def component_dtypes(pipeline: str, dtype: torch.dtype):
    """The ``dtype`` argument of ``from_pretrained``: one dtype, or one per component."""
    parts = _float32_parts(pipeline, dtype)
    if not parts:
        return dtype
    return {"default": dtype, **dict.fromkeys(parts, torch.float32)}


def model_index(model: ResolvedModel) -> dict:
    """The pipeline folder's model_index.json (empty when unreadable: the safety check reads it first)."""
    try:
        index = json.loads((model.folder / "model_index.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return index if isinstance(index, dict) else {}


#: adapters kept loaded but inactive on a resident pipeline before the oldest are deleted
KEPT_ADAPTERS = 8


def _apply_loras(entry: resident.Resident, loras: tuple[tuple[str, float], ...]) -> list[str]:
    """Put the resident pipeline in the state ``loras`` asks for, without reloading it: each file
    is loaded once (into both experts of Wan 2.2 A14B), its scale set with ``set_adapters``,
    and the active adapters fused into the weights (no LoRA matmuls per step). A change of
    adapters or scales unfuses first (with the scales the fusing used), then fuses again."""
    pipe = entry.pipe
    if loras and not hasattr(pipe, "load_lora_weights"):
        raise ValueError(f"{type(pipe).__name__} cannot load LoRA adapters")
    notes = []
    wanted: dict[str, float] = {}
    for path, scale in loras:
        identity = _adapter_identity(path)
        name = entry.adapters.get(identity)
        if name is None:
            name = f"racines_{len(entry.adapters)}_{identity[1]:x}"
            notes += _load_adapter(pipe, path, name)
            entry.adapters[identity] = name
        wanted[name] = wanted.get(name, 0.0) + scale  # one file listed twice: its scales add up
    active = tuple(wanted.items())
    if active == entry.active:
        return notes + ([f"LoRA fused ({', '.join(entry.fused)})"] if entry.fused else [])
    if entry.fused:
        pipe.unfuse_lora(components=list(entry.fused))  # with the scales it was fused at
        _restore_base_weights(entry)
        entry.fused = ()
        entry.unfused += 1
    if not active:
        pipe.disable_lora()
        entry.active = ()
        _forget_adapters(entry)
        return notes + ["LoRA adapters unfused and disabled: the base weights"]
    pipe.enable_lora()
    pipe.set_adapters(list(wanted), adapter_weights=list(wanted.values()))
    components = tuple(part for part, names in pipe.get_list_adapters().items() if set(names) & set(wanted))
    _keep_base_weights(entry, components)
    pipe.fuse_lora(components=list(components), lora_scale=1.0, adapter_names=list(wanted))
    entry.active, entry.fused = active, components
    _forget_adapters(entry)
    return notes + [f"LoRA fused ({', '.join(components)})"
                    + (f"; this pipeline's adapters were unfused {entry.unfused} time(s) before" if entry.unfused else "")]


def _adapted_layers(pipe, component: str):
    from peft.tuners.tuners_utils import BaseTunerLayer

    for name, module in getattr(pipe, component).named_modules():
        if isinstance(module, BaseTunerLayer):
            yield name, module.get_base_layer()


def _keep_base_weights(entry: resident.Resident, components: tuple[str, ...]) -> None:
    """A host copy of the base weights of every layer about to be fused, once per layer. Fusing
    adds the adapters' product in the weights' dtype and unfusing subtracts it; in bfloat16 that
    does not give the weights back, so a take would depend on the shots its worker made before.
    The copies restore them exactly (host memory: the adapted layers' size, kept while resident)."""
    for component in components:
        for name, layer in _adapted_layers(entry.pipe, component):
            if (component, name) not in entry.base_weights:
                bias = layer.bias.detach().to("cpu", copy=True) if getattr(layer, "bias", None) is not None else None
                entry.base_weights[(component, name)] = (layer.weight.detach().to("cpu", copy=True), bias)


def _restore_base_weights(entry: resident.Resident) -> None:
    """The exact base weights back after an unfuse (see :func:`_keep_base_weights`)."""
    for (component, name), (weight, bias) in entry.base_weights.items():
        layer = getattr(entry.pipe, component).get_submodule(name).get_base_layer()
        with torch.no_grad():
            layer.weight.copy_(weight)
            if bias is not None:
                layer.bias.copy_(bias)


def _adapter_identity(path: str) -> tuple[str, int]:
    """A LoRA file as it is now: a file rewritten in place is another adapter."""
    stat = os.stat(path)
    return path, hash((stat.st_size, stat.st_mtime_ns, stat.st_ino)) & 0xFFFFFFFF


def _load_adapter(pipe, path: str, name: str) -> list[str]:
    pipe.load_lora_weights(path, adapter_name=name)  # a .safetensors file, checked by the loader
    if getattr(pipe, "transformer_2", None) is not None:
        # Wan 2.2 A14B: the low-noise expert runs the last steps; diffusers loads into it only when told
        pipe.load_lora_weights(path, adapter_name=name, load_into_transformer_2=True)
        return [f"LoRA {os.path.basename(path)} loaded into both experts (transformer, transformer_2)"]
    return [f"LoRA {os.path.basename(path)} loaded"]


def _forget_adapters(entry: resident.Resident) -> None:
    """Delete the oldest inactive adapters beyond :data:`KEPT_ADAPTERS` (their memory)."""
    active = {name for name, _ in entry.active}
    idle = [identity for identity, name in entry.adapters.items() if name not in active]
    for identity in idle[:max(0, len(entry.adapters) - KEPT_ADAPTERS)]:
        entry.pipe.delete_adapters(entry.adapters.pop(identity))


def place(pipe, on: str, offload: str) -> list[str]:
    """Move the pipeline to the device, or offload it (the plan of :mod:`.memory` chose how).
    Offload needs CUDA: diffusers raises 'requires accelerator' on a machine without one, so
    there it is skipped and said."""
    if offload in ("none", "auto"):
        pipe.to(on)
        return []
    if not (on.startswith("cuda") and torch.cuda.is_available()):
        pipe.to(on)
        return [f"{offload} offload skipped: it needs a CUDA GPU (diffusers raises without one)"]
    if offload == "model":
        pipe.enable_model_cpu_offload(device=on)
        return ["model CPU offload"]
    if offload == "group":
        return group_offload(pipe, on)
    pipe.enable_sequential_cpu_offload(device=on)  # asked for by the shot: the plan never chooses it
    return ["sequential CPU offload"]


def group_offload(pipe, on: str) -> list[str]:
    """diffusers' group offloading at leaf level with CUDA streams: each layer's weights come to
    the GPU just before it runs, the next ones while it runs. The VAE stays on the GPU whole:
    diffusers warns that streams and VAE tiling do not mix, and tiling is the VAE's memory saver."""
    keep = [name for name in ("vae",) if isinstance(getattr(pipe, name, None), torch.nn.Module)]
    pipe.enable_group_offload(onload_device=torch.device(on), offload_device=torch.device("cpu"),
                              offload_type="leaf_level", use_stream=True, exclude_modules=keep)
    return ["group offload (leaf level, CUDA streams)" + (f"; {', '.join(keep)} on the GPU" if keep else "")]


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


def decode_with_retry(decode: Callable[[], object], pipe) -> tuple[object, list[str]]:
    """The VAE decode, run apart from the denoising: after running out of memory only the decode
    runs again, in tiles (the latents are kept), never the whole generation."""
    result, notes = run_with_retry(decode, lambda: [n for n in vae_tiling(pipe) if n == "VAE tiling"])
    return result, [n.replace("out of memory:", "out of memory in the decode:") for n in notes]


def lower_memory(pipe, spec: Loading) -> list[str]:
    """The lower-memory mode for a retry, one step down the plan's ladder (CUDA only): no offload
    to model offload, model offload to group offload; and VAE tiling."""
    changes = []
    if spec.device.startswith("cuda") and torch.cuda.is_available():
        if spec.offload in ("none", "auto"):
            pipe.enable_model_cpu_offload(device=spec.device)
            changes.append("model CPU offload")
        elif spec.offload == "model":
            pipe.remove_all_hooks()  # the model offload's hooks, before group offload's own
            changes += group_offload(pipe, spec.device)
    changes += [n for n in vae_tiling(pipe) if n == "VAE tiling"]
    return changes
