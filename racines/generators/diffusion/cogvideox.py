"""CogVideoX image-to-video: the photograph comes alive, guided by the prompt.

Example (shot file)::

    generator: {kind: kenburns, prompt: the wind moves through the orchard, seed: 11}
    final:
      kind: cogvideox
      model: cogvideox-5b-i2v    # racines models: THUDM/CogVideoX-5b-I2V
      steps: 50
      guidance: 6.0

Runnable example::

    from racines.film.loader import load_film
    from racines.generators import get_generator
    film = load_film("my-film", profile="final")
    clip = get_generator("cogvideox").generate(film.shots["s040"], film)   # float frames

CogVideoX makes 8k+1 frames (5B-I2V: 49 at 8 fps; 1.5: 81 at 16 fps), sides divisible by 16.
A checkpoint with learned positional embeddings (CogVideoX-5b-I2V) renders only its own size
(720x480); racines reads this from the model's config and says so at validation.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from racines.film.model import Film, Shot
from racines.film.schema import MODEL_NAME_PATTERN, Native
from racines.generators.diffusion.base import DiffusionGenerator, Plan, Rejected, read_config
from racines.generators.diffusion.settings import MODEL_DESCRIPTION, VideoBase
from racines.models.resolve import ModelMissing, ModelRefused, UnknownModel, entry_of, resolve


class CogVideoXSettings(VideoBase):
    """CogVideoX image-to-video."""

    kind: Literal["cogvideox"]
    model: str = Field("cogvideox-5b-i2v", pattern=MODEL_NAME_PATTERN, description=MODEL_DESCRIPTION)
    use_dynamic_cfg: bool = False


class CogVideoXGenerator(DiffusionGenerator):
    name = "cogvideox"
    version = "1"
    settings = CogVideoXSettings
    accepts = ("CogVideoXImageToVideoPipeline",)
    native = Native(width=720, height=480, frames=49, fps=8)
    multiple = 16
    default_steps = 50
    default_guidance = 6.0
    frames_rule = "8k+1"
    keep_native_size = True  # 5B-I2V renders only 720x480; the take crops it to the film's aspect

    def valid_frames(self, count: int) -> bool:
        return count % 8 == 1

    def plan(self, settings, shot: Shot, film: Film) -> Plan:
        plan = super().plan(settings, shot, film)
        trained = None if settings.num_frames else self.trained_frames(film, settings)
        return Plan(plan.width, plan.height, trained, plan.fps) if trained else plan

    def trained_frames(self, film: Film, settings) -> int | None:
        """The frame count a checkpoint with learned positional embeddings was trained at (5b-I2V:
        49), when its folder is here; the take is then retimed to the shot."""
        try:
            model = resolve(settings.model, entry_of(film, settings.model), film.root)
        except (ModelMissing, ModelRefused, UnknownModel):
            return None
        transformer = read_config(model, "transformer/config.json")
        if transformer.get("use_learned_positional_embeddings") and transformer.get("sample_frames"):
            return int(transformer["sample_frames"])
        return None

    def model_rejections(self, model, plan: Plan, settings) -> list[Rejected]:
        transformer = read_config(model, "transformer/config.json")
        vae = read_config(model, "vae/config.json")
        if not (transformer.get("use_learned_positional_embeddings") and vae):
            return []
        rejected = []
        scale = 2 ** (len(vae.get("block_out_channels", [0] * 4)) - 1)
        size = (transformer["sample_width"] * scale, transformer["sample_height"] * scale)
        if (plan.width, plan.height) != size:
            rejected.append(Rejected("width", f"{plan.width}x{plan.height}", f"this checkpoint renders only "
                                     f"{size[0]}x{size[1]} (learned positional embeddings)",
                                     f"set width: {size[0]} and height: {size[1]}"))
        # at another count diffusers swaps the learned embeddings for sinusoidal ones, silently
        trained = transformer.get("sample_frames")
        if trained and plan.num_frames != trained:
            rejected.append(Rejected("num_frames", plan.num_frames, f"this checkpoint makes only {trained} frames "
                                     "(learned positional embeddings)", f"set num_frames: {trained}, or leave it "
                                     "out: the clip is retimed to the shot"))
        return rejected

    def call_kwargs(self, settings, plan: Plan, images: dict, prompt: str, negative: str) -> dict:
        kwargs = dict(image=images["image"], prompt=prompt, negative_prompt=negative, height=plan.height,
                      width=plan.width, num_frames=plan.num_frames,
                      num_inference_steps=self.steps(settings),
                      guidance_scale=self.guidance(settings),
                      use_dynamic_cfg=settings.use_dynamic_cfg, output_type="np")
        if settings.max_sequence_length:
            kwargs["max_sequence_length"] = settings.max_sequence_length
        return kwargs
