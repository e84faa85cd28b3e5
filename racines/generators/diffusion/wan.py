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

import numpy as np
from pydantic import Field

from racines.film.schema import MODEL_NAME_PATTERN, FinalBase, Native
from racines.generators.diffusion.base import (
    DiffusionGenerator,
    Plan,
    Rejected,
    nearest_multiples,
    photograph,
    read_config,
)
from racines.generators.diffusion.keyframe import Target, keyframe_runs, last_frame
from racines.generators.diffusion.settings import MODEL_DESCRIPTION, TARGET_DESCRIPTION, VideoBase


class WanI2VSettings(VideoBase):
    """Wan 2.1 / 2.2 image-to-video."""

    kind: Literal["wan-i2v"]
    model: str = Field("wan2.1-i2v-480p", pattern=MODEL_NAME_PATTERN, description=MODEL_DESCRIPTION)
    guidance_2: float | None = Field(None, ge=0.0, le=50.0, description="Wan 2.2 A14B: guidance of the "
                                        "low-noise expert.")
    flow_shift: float | None = Field(None, gt=0.0, le=20.0, description="The scheduler's flow shift; default: "
                                     "3.0 at 480p or less, 5.0 above (Wan's own recipe).")


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
    # Wan's generate.py: 40 steps for image-to-video tasks, 50 for the others (FLF2V, T2V)
    default_steps = 40
    default_guidance = 5.0
    frames_rule = "4k+1"
    flf = False  # the first+last frame kind
    # its prompt cleaning calls ftfy.fix_text, imported only if installed (a NameError otherwise)
    needs = {**DiffusionGenerator.needs, "ftfy": "ftfy"}

    def pipeline_class(self, model) -> str:
        return "WanImageToVideoPipeline"

    decodes_latents = True  # Wan's VAE decode of 81 frames is the peak of the whole generation

    def decode(self, pipe, latents) -> np.ndarray:
        """The latents decoded as WanImageToVideoPipeline does after its last step (diffusers 0.42):
        denormalised with the VAE's latents_mean/std, decoded, post-processed to floats."""
        import torch
        from diffusers.utils.torch_utils import get_module_execution_device

        vae = pipe.vae
        with torch.no_grad():
            latents = latents.to(get_module_execution_device(vae), dtype=vae.dtype)
            shape = (1, vae.config.z_dim, 1, 1, 1)
            mean = torch.tensor(vae.config.latents_mean).view(shape).to(latents.device, latents.dtype)
            std = 1.0 / torch.tensor(vae.config.latents_std).view(shape).to(latents.device, latents.dtype)
            video = vae.decode(latents / std + mean, return_dict=False)[0]
            frames = pipe.video_processor.postprocess_video(video, output_type="np")
        return np.asarray(frames[0], dtype=np.float32)

    def valid_frames(self, count: int) -> bool:
        return count % 4 == 1

    def model_rejections(self, model, plan: Plan, settings) -> list[Rejected]:
        """The checkpoint's kind, read from its configs before ~90 GB load: FLF2V's transformer has
        ``pos_embed_seq_len`` (the two images' tokens), a text-to-video one takes no image latents
        (``in_channels == out_channels``, except TI2V-5B, whose pipeline sets ``expand_timesteps``),
        and only Wan 2.2 A14B has a second expert (``transformer_2``)."""
        transformer = read_config(model, "transformer/config.json")
        if not transformer:
            return []
        index = read_config(model, "model_index.json")
        rejected = []
        flf = bool(transformer.get("pos_embed_seq_len"))
        if transformer.get("in_channels") == transformer.get("out_channels") and not index.get("expand_timesteps"):
            rejected.append(Rejected("model", settings.model, "this is a text-to-video Wan checkpoint: its "
                                     "transformer takes no image", "name an image-to-video (wan2.1-i2v-480p) or "
                                     "first+last frame (wan2.1-flf2v-720p) model"))
        elif self.flf and not flf:
            rejected.append(Rejected("model", settings.model, "this is an image-to-video Wan checkpoint; wan-flf2v "
                                     "needs the first+last frame one", "name wan2.1-flf2v-720p (Wan2.1-FLF2V-14B), "
                                     "or use kind: wan-i2v"))
        elif flf and not self.flf:
            rejected.append(Rejected("model", settings.model, "this is the first+last frame Wan checkpoint; "
                                     "wan-i2v needs an image-to-video one", "use kind: wan-flf2v with a target, or "
                                     "name an image-to-video model (wan2.1-i2v-480p)"))
        if settings.guidance_2 is not None and not (index.get("transformer_2") or [None])[0]:
            rejected.append(Rejected("guidance_2", settings.guidance_2, "guidance_2 steers the second expert, and "
                                     "this checkpoint has none (no transformer_2)", "remove guidance_2, or name a "
                                     "Wan 2.2 A14B model (wan2.2-i2v-a14b)"))
        # the pipeline's own rule: the VAE's spatial factor x the patch (16 for 2.1, 32 for TI2V-5B)
        vae = read_config(model, "vae/config.json")
        multiple = (vae.get("scale_factor_spatial") or 8) * (transformer.get("patch_size") or [1, 2, 2])[1]
        if multiple > self.multiple:
            rejected += [Rejected(side, value, f"this checkpoint needs sides divisible by {multiple}",
                                  f"use {nearest_multiples(value, multiple)}")
                         for side, value in (("width", plan.width), ("height", plan.height)) if value % multiple]
        return rejected

    def prepare(self, settings, plan: Plan, shot, film) -> dict:
        return {"image": photograph(shot, plan.width, plan.height)}

    def flow_shift(self, settings, plan: Plan) -> float:
        """Wan's generate.py: sample_shift 3.0 for 832x480 image-to-video and FLF2V, else 5.0;
        diffusers' Wan docs likewise (3.0 for 480P, 5.0 for 720P)."""
        if settings.flow_shift is not None:
            return settings.flow_shift
        return 3.0 if plan.width * plan.height <= 832 * 480 else 5.0

    def configure(self, pipe, settings, plan: Plan) -> dict:
        shift = self.flow_shift(settings, plan)
        config = pipe.scheduler.config
        # the Diffusers repos ship UniPC (flow_shift); a flow-matching Euler scheduler calls it shift
        name = "flow_shift" if "flow_shift" in config else "shift" if "shift" in config else None
        if name is None:
            return {}
        pipe.scheduler = type(pipe.scheduler).from_config(config, **{name: shift})
        return {"flow_shift": shift}

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
    flf = True
    default_steps = 50  # Wan's generate.py: 40 only for the i2v tasks

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
