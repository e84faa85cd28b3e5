"""The speed settings of a final: block (``speed:``), applied to a loaded pipeline.

* attention: the self-attention kernel, through diffusers' attention dispatcher, set on each
  ``attn1`` processor rather than globally (``set_attention_backend`` also changes the process-wide
  default, which would leak into the next pipeline). Cross-attention keeps SDPA: LTX masks its
  text tokens, and FlashAttention-3 refuses a mask. Cross-attention is under 1 % of the FLOPs.
* compile: regional compilation of a transformer's repeated blocks (one graph compiled once and
  reused by every layer: seconds rather than minutes); a UNet in channels-last, compiled whole.
  Graphs persist in an inductor cache, so the next process starts warm.
* first-block cache and fp8: faster and approximate, opt-in, and said so in the take's report.

Each step returns notes for the take's report; a setting that cannot run here raises
:class:`SpeedRefused` with the fix, never a silent fallback (except ``auto``, which says what it chose).
"""

from __future__ import annotations

import importlib.util
import os
import shutil
from pathlib import Path

import torch

#: racines' names -> diffusers' AttentionBackendName values
ATTENTION = {"sdpa": "native", "cudnn": "_native_cudnn", "flash3": "_flash_3", "flash": "flash", "sage": "sage"}
DENOISERS = ("transformer", "transformer_2", "unet")


class SpeedRefused(RuntimeError):
    def __init__(self, setting: str, message: str, fix: str):
        self.setting, self.fix = setting, fix
        super().__init__(f"speed.{setting}: {message}; fix: {fix}")


def denoisers(pipe) -> list[tuple[str, torch.nn.Module]]:
    return [(name, model) for name in DENOISERS if (model := getattr(pipe, name, None)) is not None]


def on_cuda(on: str) -> bool:
    return on.startswith("cuda") and torch.cuda.is_available()


def resolve_attention(choice: str, on: str) -> str:
    """'auto': FlashAttention-3 on Hopper when its package is installed, else cuDNN's fused attention
    (Ampere and newer), else SDPA; every other choice is itself."""
    if choice != "auto":
        return choice
    if not on_cuda(on):
        return "sdpa"
    from diffusers.models import attention_dispatch

    major, _ = torch.cuda.get_device_capability()
    if major == 9 and attention_dispatch._CAN_USE_FLASH_ATTN_3:
        return "flash3"
    if major >= 8 and torch.backends.cudnn.is_available():
        return "cudnn"
    return "sdpa"


def set_attention(model: torch.nn.Module, choice: str) -> int:
    """Set the kernel of every self-attention processor of ``model``; return how many."""
    from diffusers.models.attention_dispatch import AttentionBackendName, _check_attention_backend_requirements

    backend = AttentionBackendName(ATTENTION[choice])
    try:
        _check_attention_backend_requirements(backend)
    except RuntimeError as exc:
        raise SpeedRefused("attention", f"'{choice}' cannot run here: {exc}", "use attention: auto or sdpa") from exc
    count = 0
    for name, module in model.named_modules():
        processor = getattr(module, "processor", None)
        if name.rsplit(".", 1)[-1] == "attn1" and hasattr(processor, "_attention_backend"):
            processor._attention_backend = backend
            count += 1
    return count


def attention(pipe, choice: str, on: str) -> list[str]:
    chosen = resolve_attention(choice, on)
    notes = []
    for name, model in denoisers(pipe):
        count = set_attention(model, chosen)
        if count:
            notes.append(f"attention {chosen} ({count} self-attention layers of the {name}"
                         f"{', chosen by auto' if choice == 'auto' else ''})")
        elif chosen != "sdpa" and choice != "auto":
            raise SpeedRefused("attention", f"the {type(model).__name__}'s attention does not go through diffusers' "
                               f"dispatcher, so '{choice}' cannot be set", "use attention: sdpa")
        else:  # SVD's UNet: its processors call SDPA themselves
            notes.append(f"attention sdpa (the {type(model).__name__}'s own processors)")
    return notes


def compile_cache() -> Path:
    """Where inductor keeps compiled graphs between processes: RACINES_COMPILE_CACHE, else the user cache
    (a TORCHINDUCTOR_CACHE_DIR set by the user wins)."""
    chosen = os.environ.get("TORCHINDUCTOR_CACHE_DIR") or os.environ.get("RACINES_COMPILE_CACHE") or str(
        Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "racines" / "inductor")
    os.environ["TORCHINDUCTOR_CACHE_DIR"] = chosen
    os.environ.setdefault("TORCHINDUCTOR_FX_GRAPH_CACHE", "1")
    Path(chosen).mkdir(parents=True, exist_ok=True)
    return Path(chosen)


def compile_models(pipe, choice: bool | str, on: str) -> list[str]:
    if choice is False:
        return []
    if choice == "auto" and not on_cuda(on):
        return ["compile skipped: 'auto' compiles on a CUDA GPU only (set compile: true to compile on the CPU)"]
    if not on_cuda(on) and not any(shutil.which(cc) for cc in ("g++", "c++", "clang++")):
        raise SpeedRefused("compile", "torch.compile on the CPU needs a C++ compiler, and none is on PATH",
                           "install g++, or use compile: auto (GPU only) or false")
    cache = compile_cache()
    notes = []
    for name, model in denoisers(pipe):
        blocks = getattr(model, "_repeated_blocks", None)
        if blocks:
            model.compile_repeated_blocks()
            count = sum(type(m).__name__ in blocks for m in model.modules())
            notes.append(f"compiled the {name}'s {count} repeated blocks ({', '.join(blocks)})")
        else:  # a UNet: convolutions run faster in channels-last, and it has no repeated blocks to share
            model.to(memory_format=torch.channels_last)
            model.compile()
            notes.append(f"compiled the {name} whole, channels-last")
    return [*notes, f"inductor cache {cache}"] if notes else notes


def first_block_cache(pipe, threshold: float | None) -> list[str]:
    if threshold is None:
        return []
    from diffusers.hooks import FirstBlockCacheConfig

    notes = []
    for name, model in denoisers(pipe):
        lists = [m for n, m in model.named_children() if isinstance(m, torch.nn.ModuleList) and "block" in n]
        if not hasattr(model, "enable_cache") or sum(len(m) for m in lists) < 2:
            raise SpeedRefused("first_block_cache", f"the {type(model).__name__} has no transformer blocks to skip",
                               "remove first_block_cache (it applies to transformer models: Wan, LTX, CogVideoX)")
        model.enable_cache(FirstBlockCacheConfig(threshold=threshold))
        notes.append(f"first-block cache on the {name}, threshold {threshold} (approximate: later blocks are "
                     "skipped on steps that change little; frames differ from the full computation)")
    return notes


def fp8(pipe, wanted: bool, on: str) -> list[str]:
    if not wanted:
        return []
    if importlib.util.find_spec("torchao") is None:
        raise SpeedRefused("fp8", "float8 needs the torchao package, which is not installed",
                           "pip install torchao, or remove fp8")
    if not on_cuda(on) or torch.cuda.get_device_capability() < (8, 9):
        raise SpeedRefused("fp8", f"float8 matrix products need a CUDA GPU of compute capability 8.9 or newer "
                           f"(this run is on {on})", "remove fp8 on this machine")
    from torchao.quantization import Float8DynamicActivationFloat8WeightConfig, quantize_

    notes = []
    for name, model in denoisers(pipe):
        quantize_(model, Float8DynamicActivationFloat8WeightConfig())
        notes.append(f"fp8 weights and activations in the {name}'s linear layers (approximate)")
    return notes


def apply(pipe, speed: dict, on: str) -> list[str]:
    """Apply the non-default speed settings ``speed`` (``Speed.changed()``) to a placed pipeline."""
    if not speed:
        return []
    notes = attention(pipe, speed.get("attention", "sdpa"), on)
    notes += fp8(pipe, speed.get("fp8", False), on)  # before compiling: the quantised graph is what compiles
    notes += first_block_cache(pipe, speed.get("first_block_cache"))
    notes += compile_models(pipe, speed.get("compile", False), on)
    return notes


def approximate(speed: dict) -> bool:
    """Whether these settings make frames that differ beyond rounding from the full computation."""
    return bool(speed.get("first_block_cache") or speed.get("fp8"))
