"""LTX-Video keyframe conditioning (``LTXConditionPipeline``): the photograph on the first frame
and, with a target, the target on the last; the model fills the motion between them.

Example (shot file)::

    generator: {kind: morph, prompt: the harbour sprouts roots, seed: 3, target: flowers/roots.jpg}
    final:
      kind: ltx
      model: ltx-video-0.9.5     # racines models: Lightricks/LTX-Video-0.9.5
      steps: 40
      guidance: 3.0

Runnable example::

    from racines.film.loader import load_film
    from racines.generators import get_generator
    film = load_film("my-film", profile="final")
    clip = get_generator("ltx").generate(film.shots["s030"], film)   # float frames

LTX makes 8k+1 frames (native 161 at 24 fps), sides divisible by 32. Its docs advise keyframes
that resemble each other: a target far from the photograph may cut rather than flow.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from racines.film.schema import MODEL_NAME_PATTERN, FinalBase, Native
from racines.generators.diffusion.base import DiffusionGenerator, Plan, photograph
from racines.generators.diffusion.keyframe import Target, keyframe_runs, last_frame
from racines.generators.diffusion.settings import MODEL_DESCRIPTION, TARGET_DESCRIPTION, VideoBase


class LtxSettings(VideoBase):
    """LTX-Video keyframe conditioning (LTXConditionPipeline): the photograph on the first frame and, with a
    target, the target on the last."""

    kind: Literal["ltx"]
    model: str = Field("ltx-video-0.9.5", pattern=MODEL_NAME_PATTERN, description=MODEL_DESCRIPTION)
    target: Target | None = Field(None, description=TARGET_DESCRIPTION)
    # LTX-Video's recipe (its inference configs; LTXConditionPipeline's default for the noise
    # scale): decode at timestep 0.05 with noise 0.025, and condition images noised by 0.15
    decode_timestep: float = Field(0.05, ge=0.0, le=1.0)
    decode_noise_scale: float = Field(0.025, ge=0.0, le=1.0)
    image_cond_noise_scale: float = Field(0.15, ge=0.0, le=1.0)

    images: ClassVar[tuple[str, ...]] = ("target",)
    inherits: ClassVar[tuple[str, ...]] = (*FinalBase.inherits, "target")


class LtxGenerator(DiffusionGenerator):
    name = "ltx"
    version = "1"
    settings = LtxSettings
    accepts = ("LTXConditionPipeline", "LTXPipeline", "LTXImageToVideoPipeline")  # the same components
    native = Native(width=768, height=512, frames=161, fps=24)
    multiple = 32
    default_steps = 50
    default_guidance = 3.0
    frames_rule = "8k+1"

    def pipeline_class(self, model) -> str:
        return "LTXConditionPipeline"

    def valid_frames(self, count: int) -> bool:
        return count % 8 == 1

    def runs(self, settings):
        return super().runs(settings) + keyframe_runs(settings)

    def prepare(self, settings, plan: Plan, shot, film) -> dict:
        return {"image": photograph(shot, plan.width, plan.height),
                "last_image": last_frame(settings, plan, shot, film, self.report)}

    def call_kwargs(self, settings, plan: Plan, images: dict, prompt: str, negative: str) -> dict:
        from diffusers.pipelines.ltx.pipeline_ltx_condition import LTXVideoCondition

        conditions = [LTXVideoCondition(image=images["image"], frame_index=0)]
        if images.get("last_image") is not None:
            conditions.append(LTXVideoCondition(image=images["last_image"], frame_index=plan.num_frames - 1))
        kwargs = dict(conditions=conditions, prompt=prompt, negative_prompt=negative, height=plan.height,
                      width=plan.width, num_frames=plan.num_frames, frame_rate=plan.fps,
                      num_inference_steps=self.steps(settings),
                      guidance_scale=self.guidance(settings),
                      decode_timestep=settings.decode_timestep, decode_noise_scale=settings.decode_noise_scale,
                      image_cond_noise_scale=settings.image_cond_noise_scale, output_type="np")
        if settings.max_sequence_length:
            kwargs["max_sequence_length"] = settings.max_sequence_length
        return kwargs
