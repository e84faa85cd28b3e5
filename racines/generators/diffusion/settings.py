"""What the final: blocks of the diffusion kinds share: model, steps, guidance, size, LoRA
adapters, memory savers, and the keyframe a target can be made from. Each kind's own model
(``SvdSettings``...) lives in its module, beside its pipeline."""

from __future__ import annotations

import typing
from typing import Literal

from pydantic import BaseModel, Field

from racines.film.schema import MODEL_NAME_PATTERN, FinalBase, KindSettings, Strict


class Lora(Strict):
    """A LoRA adapter: a .safetensors file inside the project, applied with a scale."""

    path: str = Field(min_length=1, description="Path to the .safetensors file, relative to this shot file.")
    scale: float = Field(1.0, ge=-4.0, le=4.0, description="Strength of the adapter (1 = as trained).")


class Memory(Strict):
    """Memory savers for large models on small GPUs. Offload needs a CUDA GPU and is skipped without one."""

    offload: Literal["auto", "none", "model", "group", "sequential"] = Field(
        "auto", description="'auto': planned before loading from the weights' size, the generation's size and the "
        "GPU's free memory (none, model or group); 'none': all on the GPU; 'model' moves each model to the GPU only "
        "while it runs; 'group' streams layers to the GPU as they run (CUDA streams); 'sequential' goes layer by "
        "layer (least memory, slowest). Does not change the pixels.", json_schema_extra={"pixels": False})
    vae_tiling: bool = Field(False, description="Decode the video in tiles (less memory, slight seams possible).")
    decode_chunk_size: int | None = Field(
        None, ge=1, le=256, description="Frames decoded at once (SVD; other families decode in one go).")


class Speed(Strict):
    """How fast the same pipeline runs. Not a pixel setting in the generic sense: a value other than the
    default is recorded in the take's cache key by name (``speed``), so changing it makes takes stale
    and their provenance says which. Kernels and compiled graphs round differently, within bf16."""

    attention: Literal["sdpa", "auto", "cudnn", "flash3", "flash", "sage"] = Field(
        "sdpa", description="Self-attention kernel (diffusers' attention dispatcher). 'sdpa': PyTorch's "
        "scaled-dot-product attention; 'auto': FlashAttention-3 or cuDNN when the GPU has them, else SDPA; the "
        "others are named kernels (flash-attn, sageattention packages). Masked cross-attention stays on SDPA.")
    compile: Literal[False, True, "auto"] = Field(
        False, description="torch.compile: the transformer's repeated blocks (regional compilation), a UNet "
        "whole in channels-last. 'auto': on a CUDA GPU only (the CPU is skipped and said); true: everywhere. "
        "Compiled graphs are kept in an inductor cache (RACINES_COMPILE_CACHE, else the user cache).")
    first_block_cache: float | None = Field(
        None, gt=0.0, le=1.0, description="Faster, approximate: skip the transformer's later blocks on steps where "
        "the first block's output changed less than this (diffusers' First Block Cache; 0.05 to 0.2). The take "
        "differs from the full computation; the manifest says so.")
    fp8: bool = Field(False, description="Faster, approximate: float8 weights and activations for the "
                      "transformer's linear layers (torchao, a CUDA GPU of compute capability 8.9 or newer).")

    def missing(self) -> list[tuple[str, object, str, str]]:
        """(field, value, message, fix) for each chosen kernel or library whose package is not installed:
        found at validation rather than on the GPU after the models have loaded."""
        import importlib.util

        needs = {"flash3": ("attention", "flash_attn_interface", "FlashAttention-3 (built from flash-attention's "
                            "hopper/ folder)"), "flash": ("attention", "flash_attn", "flash-attn"),
                 "sage": ("attention", "sageattention", "sageattention")}
        wanted = [needs[self.attention]] if self.attention in needs else []
        wanted += [("fp8", "torchao", "torchao")] if self.fp8 else []
        return [(field, getattr(self, field), f"needs the Python package {package}, which is not installed",
                 f"install {package}, or use {'attention: auto' if field == 'attention' else 'fp8: false'}")
                for field, module, package in wanted if importlib.util.find_spec(module) is None]

    def changed(self) -> dict:
        """The values that differ from the defaults (what a cache key records)."""
        return {name: value for name, value in self.model_dump(mode="json").items()
                if value != type(self).model_fields[name].default}


class Xray(Strict):
    """A contact strip of the generation's intermediate states, kept with the take (xray.png)."""

    every: int = Field(5, ge=1, le=500, description="Keep a preview every N denoising steps (and the last step's).")


MODEL_DESCRIPTION = "A name from racines models (models.yaml or the built-in list)."


class DiffusionBase(FinalBase):
    steps: int | None = Field(None, ge=1, le=500, description="Denoising steps; default: the kind's own.")
    guidance: float | None = Field(None, ge=0.0, le=50.0, description="Guidance scale; default: the kind's own.")
    width: int | None = Field(None, ge=16, le=8192, description="Generation width; default: the model's native "
                                 "size at the film's aspect. The take is always resized to the film's size.")
    height: int | None = Field(None, ge=16, le=8192, description="Generation height (see width).")
    lora: list[Lora] = Field(default_factory=list, description="LoRA adapters, applied in order.")
    enhance_prompt: str | None = Field(
        None, pattern=MODEL_NAME_PATTERN, description="Name of a local language model that rewrites the prompt "
        "before generation (off by default); the manifest keeps both prompts.")
    precision: Literal["auto", "bfloat16", "float16", "float32"] = Field(
        "auto", description="'auto': bfloat16 on a CUDA GPU (float16 for a model whose variant is fp16), float32 "
        "on the CPU.")
    memory: Memory = Field(default_factory=Memory)
    speed: Speed = Field(default_factory=Speed, json_schema_extra={"pixels": False})  # keyed by key_extra
    max_sequence_length: int | None = Field(
        None, ge=1, le=1024, description="Text tokens the encoder reads; default: the pipeline's own.")
    xray: Xray | None = Field(
        None, description="Keep a strip of the image emerging step by step (previewed from the latents, no "
        "second decode). Does not change the pixels; a take made with it is a take of its own.",
        json_schema_extra={"pixels": False})  # keyed by key_extra when set

    def inherit(self, draft: KindSettings) -> DiffusionBase:
        """A keyframe mapping as target inherits in turn from this block."""
        merged = super().inherit(draft)
        target = getattr(merged, "target", None)
        if isinstance(target, DiffusionBase):
            merged = merged.model_copy(update={"target": target.inherit(merged)})
        return merged

    def parts(self) -> list[tuple[tuple, DiffusionBase]]:
        """The block and the keyframe it makes its target from, if any (by prompt, inpainting, FLUX.2):
        (location inside the block, settings)."""
        target = getattr(self, "target", None)
        return [((), self)] + ([(("target",), target)] if isinstance(target, DiffusionBase) else [])

    def problems(self, frames: int) -> list[tuple[tuple, str, object, str]]:
        """The block's rules, and its target keyframe's (a mask and a polygon...), located under it."""
        found = super().problems(frames)
        for loc, part in self.parts()[1:]:
            found += [((*loc, *where), message, value, fix) for where, message, value, fix in part.problems(1)]
        return found

    def image_files(self) -> list[tuple[tuple, str]]:
        return super().image_files() + [((*loc, *where), text) for loc, part in self.parts()[1:]
                                        for where, text in part.image_files()]

    @classmethod
    def explain(cls, error: dict, loc: tuple) -> tuple[str, str] | None:
        """An error inside a target keyframe, in the words of the kind that makes it (named by the
        union tag that follows 'target' in pydantic's location)."""
        field, where = cls.model_fields.get("target"), tuple(error.get("loc", ()))
        if field is None or loc[:1] != ("target",) or "target" not in where[:-1]:
            return None
        tag = where[where.index("target") + 1]
        for model in _models_in(field.annotation):
            kind = model.model_fields.get("kind")
            if kind is not None and typing.get_args(kind.annotation) == (tag,):
                return model.explain(error, loc[1:])
        return None

    def weight_files(self) -> list[tuple[tuple, str]]:
        return [((*loc, "lora", index, "path"), lora.path)
                for loc, part in self.parts() for index, lora in enumerate(part.lora)]

    def model_names(self) -> list[str]:
        """Its own model, a keyframe target's, the prompt enhancers'."""
        names = []
        for _, part in self.parts():
            names += [part.model] + ([part.enhance_prompt] if part.enhance_prompt else [])
        return list(dict.fromkeys(names))


def _models_in(annotation) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [model for arg in typing.get_args(annotation) for model in _models_in(arg)]


class VideoBase(DiffusionBase):
    num_frames: int | None = Field(
        None, ge=1, le=1025, description="Frames the model generates; default: enough to cover the shot at fps, "
        "rounded to what the model accepts. They are retimed to the shot's duration at the film's rate.")
    fps: int | None = Field(None, ge=1, le=120, description="The model's native frame rate; default: its own.")


class KeyframeSpec(DiffusionBase):
    """A still made from the photograph by prompt: image-to-image (SD, SDXL, Flux) or instruction editing
    (Flux Kontext), chosen by the model's pipeline class."""

    model: str = Field("sdxl", pattern=MODEL_NAME_PATTERN, description=MODEL_DESCRIPTION)
    strength: float = Field(0.6, ge=0.0, le=1.0, description="Image-to-image: how far from the photograph "
                            "(0 keeps it, 1 ignores it). Instruction editing ignores it.")


TARGET_DESCRIPTION = ("The last frame: an image path relative to this shot file, or a mapping that makes it from "
                      "the photograph: by prompt (model, prompt, strength...), or with kind: inpaint (a masked region "
                      "repainted) or kind: flux2 (FLUX.2 editing), and that kind's fields. Default: the morph draft's "
                      "target.")
