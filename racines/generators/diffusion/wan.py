"""Wan 2.1 / 2.2 image-to-video, and first+last frame (FLF2V): the photograph becomes its target.

Example (shot file)::

    generator:                   # the draft: a weightless morph
      kind: morph
      prompt: her scarf unfolds into jasmine
      seed: 42
      target: flowers/jasmine.jpg
    final:
      kind: wan-flf2v            # or wan-i2v (no last frame)
      model: wan2.1-flf2v-720p   # racines models: Wan-AI/Wan2.1-FLF2V-14B-720P-diffusers
      steps: 40
      # target: inherited from the morph; or a keyframe made by prompt:
      # target: {model: flux-kontext, prompt: "turn her scarf into jasmine flowers"}

Runnable example::

    from racines.film.loader import load_film
    from racines.generators import get_generator
    film = load_film("my-film", profile="final")
    clip = get_generator("wan-flf2v").generate(film.shots["s020"], film)   # float frames

Wan makes 4k+1 frames (81 native) at 16 fps (Wan 2.2 TI2V-5B: 24), sides divisible by 16.
The prompt encoder needs ``ftfy``. ``guidance_2`` is the second expert's guidance (Wan 2.2 A14B).
"""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from racines.film.schema import MODEL_NAME_PATTERN, FinalBase, Native
from racines.generators.diffusion.base import DiffusionGenerator, Plan, Rejected, photograph
from racines.generators.diffusion.keyframe import keyframe_runs, last_frame
from racines.generators.diffusion.settings import MODEL_DESCRIPTION, TARGET_DESCRIPTION, Target, VideoBase


class WanI2VSettings(VideoBase):
    """Wan 2.1 / 2.2 image-to-video."""

    kind: Literal["wan-i2v"]
    model: str = Field("wan2.1-i2v-480p", pattern=MODEL_NAME_PATTERN, description=MODEL_DESCRIPTION)
    guidance_2: float | None = Field(None, ge=0.0, le=50.0, description="Wan 2.2 A14B: guidance of the "
                                        "low-noise expert.")


class WanFLF2VSettings(WanI2VSettings):
    """Wan first+last frame: the photograph becomes the target over the clip."""

    kind: Literal["wan-flf2v"]
    model: str = Field("wan2.1-flf2v-720p", pattern=MODEL_NAME_PATTERN, description=MODEL_DESCRIPTION)
    target: Target | None = Field(None, description=TARGET_DESCRIPTION)

    images: ClassVar[tuple[str, ...]] = ("target",)
    inherits: ClassVar[tuple[str, ...]] = (*FinalBase.inherits, "target")


class WanI2VGenerator(DiffusionGenerator):
    name = "wan-i2v"
    version = "1"
    settings = WanI2VSettings
    accepts = ("WanImageToVideoPipeline", "WanPipeline")  # TI2V-5B's folder says WanPipeline
    native = Native(width=832, height=480, frames=81, fps=16)
    multiple = 16
    default_steps = 50
    default_guidance = 5.0
    frames_rule = "4k+1"

    def pipeline_class(self, model) -> str:
        return "WanImageToVideoPipeline"

    def valid_frames(self, count: int) -> bool:
        return count % 4 == 1

    def prepare(self, settings, plan: Plan, shot, film) -> dict:
        return {"image": photograph(shot, plan.width, plan.height)}

    def call_kwargs(self, settings, plan: Plan, images: dict, prompt: str, negative: str) -> dict:
        kwargs = dict(image=images["image"], prompt=prompt, negative_prompt=negative, height=plan.height,
                      width=plan.width, num_frames=plan.num_frames,
                      num_inference_steps=self.steps(settings),
                      guidance_scale=self.guidance(settings),
                      output_type="np")
        if settings.guidance_2 is not None:
            kwargs["guidance_scale_2"] = settings.guidance_2
        if settings.max_sequence_length:
            kwargs["max_sequence_length"] = settings.max_sequence_length
        if images.get("last_image") is not None:
            kwargs["last_image"] = images["last_image"]
        return kwargs


class WanFLF2VGenerator(WanI2VGenerator):
    name = "wan-flf2v"
    version = "1"
    settings = WanFLF2VSettings
    native = Native(width=1280, height=720, frames=81, fps=16)

    def family_rejections(self, settings, plan: Plan):
        if settings.target is None:
            return [Rejected("target", None, "first+last frame generation needs a last frame",
                             "add target: flowers/NAME.jpg (or a keyframe mapping), or make the draft a morph "
                             "whose target is inherited")]
        return []

    def runs(self, settings):
        return super().runs(settings) + keyframe_runs(settings)

    def prepare(self, settings, plan: Plan, shot, film) -> dict:
        return {"image": photograph(shot, plan.width, plan.height),
                "last_image": last_frame(settings, plan, shot, film, self.report)}
