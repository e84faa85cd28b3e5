"""Stable Video Diffusion (SVD, SVD-XT): the photograph comes alive. Image-conditioned only.

Example (shot file)::

    generator: {kind: kenburns, seed: 7}          # the draft
    final:
      kind: svd
      model: svd-xt              # racines models: stabilityai/stable-video-diffusion-img2vid-xt
      motion_bucket_id: 127      # more motion when higher
      noise_aug_strength: 0.02
      memory: {decode_chunk_size: 8}

Runnable example (a model folder saved by ``save_pretrained``; see racines models)::

    from racines.film.loader import load_film
    from racines.generators import get_generator
    film = load_film("my-film", profile="final")
    clip = get_generator("svd").generate(film.shots["s010"], film)   # float frames (n, h, w, 3)

SVD makes 14 (SVD) or 25 (SVD-XT) frames at 7 fps (native 1024x576). Sides must be divisible
by 8 for the pipeline, and by 8 x 2^(down blocks - 1) for the UNet (64 for SVD), which racines
reads from the checkpoint's config.
Its VAE has no tiling: ``decode_chunk_size`` is its memory saver, and the retry after running
out of memory decodes one frame at a time with the UNet's forward chunking on.
"""

from __future__ import annotations

import json
from typing import Literal

from pydantic import Field

from racines.film.schema import MODEL_NAME_PATTERN, Native
from racines.generators.diffusion.base import DiffusionGenerator, Plan, Rejected, nearest_multiples
from racines.generators.diffusion.settings import MODEL_DESCRIPTION, VideoBase

FRAMES = (14, 25)


class SvdSettings(VideoBase):
    """Stable Video Diffusion (SVD, SVD-XT): the photograph comes alive. No text prompt."""

    kind: Literal["svd"]
    model: str = Field("svd-xt", pattern=MODEL_NAME_PATTERN, description=MODEL_DESCRIPTION)
    min_guidance: float = Field(1.0, ge=0.0, le=50.0, description="Guidance on the first frame (ramps to guidance).")
    motion_bucket_id: int = Field(127, ge=0, le=1023, description="More motion when higher.")
    noise_aug_strength: float = Field(0.02, ge=0.0, le=1.0, description="More motion, less likeness when higher.")


class SvdGenerator(DiffusionGenerator):
    name = "svd"
    version = "1"
    settings = SvdSettings
    accepts = ("StableVideoDiffusionPipeline",)
    native = Native(width=1024, height=576, frames=25, fps=7)
    multiple = 8            # the pipeline's own rule; the checkpoint's UNet adds its own (64 for SVD)
    default_multiple = 64
    default_steps = 25
    default_guidance = 3.0
    takes_lora = False
    takes_prompt = False
    frames_rule = "14 or 25"

    def valid_frames(self, count: int) -> bool:
        return count in FRAMES

    def family_rejections(self, settings, plan: Plan) -> list[Rejected]:
        guidance = self.guidance(settings)
        if settings.min_guidance > guidance:
            return [Rejected("min_guidance", settings.min_guidance, "the first frame's guidance exceeds the last's "
                             f"({guidance})", f"use at most {guidance}, or raise guidance")]
        return []

    def model_rejections(self, model, plan: Plan, settings) -> list[Rejected]:
        try:
            unet = json.loads((model.folder / "unet" / "config.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return []
        multiple = 8 * 2 ** (len(unet.get("block_out_channels", [0])) - 1)
        return [Rejected(side, value, f"this checkpoint's UNet needs sides divisible by {multiple}",
                         f"use {nearest_multiples(value, multiple)}")
                for side, value in (("width", plan.width), ("height", plan.height)) if value % multiple]

    def call_kwargs(self, settings, plan: Plan, images: dict, prompt: str, negative: str) -> dict:
        return dict(image=images["image"], height=plan.height, width=plan.width, num_frames=plan.num_frames,
                    num_inference_steps=self.steps(settings),
                    min_guidance_scale=settings.min_guidance,
                    max_guidance_scale=self.guidance(settings),
                    fps=plan.fps, motion_bucket_id=settings.motion_bucket_id,
                    noise_aug_strength=settings.noise_aug_strength,
                    decode_chunk_size=settings.memory.decode_chunk_size, output_type="np")

    def lower_memory(self, pipe, kwargs: dict, loading) -> list[str]:
        from racines.generators.diffusion import runtime

        kwargs["decode_chunk_size"] = 1
        pipe.unet.enable_forward_chunking()
        return runtime.lower_memory(pipe, loading) + ["decode_chunk_size 1", "UNet forward chunking"]
