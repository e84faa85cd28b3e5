"""FLUX.2 [dev] keyframes: the photograph edited by prompt, given to ``Flux2Pipeline`` as its
reference image (and an optional second reference, the flowers it should become). The Mistral
Small 3.1 text encoder reads the prompt as a conversation; the pipeline stacks three of its
hidden layers (10, 20, 30) as the transformer's text input. Held as a still.

Example (shot file)::

    generator: {kind: morph, prompt: her scarf unfolds into jasmine, seed: 42, target: flowers/jasmine.jpg}
    final:
      kind: flux2
      model: flux2-dev                   # FLUX.2 [dev]: non-commercial licence
      prompt: turn her scarf into a spray of jasmine flowers, keep her face
      reference: flowers/jasmine.jpg     # optional: a second reference image

Runnable example::

    from racines.film.loader import load_film
    from racines.generators import get_generator
    film = load_film("my-film", profile="final")
    clip = get_generator("flux2").generate(film.shots["s070"], film)   # one float frame

Sides must be divisible by 16 and at least 64 (the pipeline refuses smaller reference images).
FLUX.2 [dev] is guidance-distilled: ``guidance`` is its embedded guidance (4 by default), and a
negative prompt is not used. In bfloat16 its transformer and text encoder take about 110 GB:
on an 80 GB GPU, ``memory: {offload: model}``.
"""

from __future__ import annotations

from typing import ClassVar, Literal

import numpy as np
from pydantic import Field

from racines.film.images import fit, load_rgb
from racines.film.model import Film, Shot
from racines.film.schema import MODEL_NAME_PATTERN, Native
from racines.generators.diffusion.base import DiffusionGenerator, Plan, Rejected, photograph, read_config
from racines.generators.diffusion.settings import MODEL_DESCRIPTION, DiffusionBase

#: the hidden states of the text encoder that Flux2Pipeline stacks (its ``text_encoder_out_layers``)
TEXT_LAYERS = (10, 20, 30)
#: Flux2Pipeline refuses reference images smaller than this on either side
SMALLEST = 64


class Flux2Settings(DiffusionBase):
    """A keyframe made from the photograph by FLUX.2 [dev] as an edit of its reference images."""

    kind: Literal["flux2"]
    model: str = Field("flux2-dev", pattern=MODEL_NAME_PATTERN, description=MODEL_DESCRIPTION)
    reference: str | None = Field(None, description="A second reference image (path relative to this shot "
                                  "file), e.g. the flowers the photograph becomes; the photograph is the first.")

    images: ClassVar[tuple[str, ...]] = ("reference",)


class Flux2Generator(DiffusionGenerator):
    name = "flux2"
    version = "1"
    settings = Flux2Settings
    accepts = ("Flux2Pipeline",)
    native = Native(width=1024, height=1024, frames=1, fps=1)
    multiple = 16
    default_steps = 50      # the model card's example
    default_guidance = 4.0  # embedded guidance (the model card's example)

    def plan(self, settings, shot: Shot, film: Film) -> Plan:
        plan = super().plan(settings, shot, film)
        return Plan(plan.width, plan.height, 1, 1)

    def family_rejections(self, settings, plan: Plan) -> list[Rejected]:
        return [Rejected(side, value, f"FLUX.2 takes the photograph as a reference image, which must be at least "
                         f"{SMALLEST} pixels on each side", f"use {SMALLEST} or more")
                for side, value in (("width", plan.width), ("height", plan.height)) if value < SMALLEST]

    def model_rejections(self, model, plan: Plan, settings) -> list[Rejected]:
        """The checkpoint's text encoder must feed its transformer as the pipeline wires them: it
        reads hidden states 10, 20 and 30 (a deep enough Mistral 3) and stacks them, so the
        transformer's ``joint_attention_dim`` is three times the encoder's width; the transformer
        takes the VAE's latents in 2x2 patches (``in_channels`` = 4 x ``latent_channels``)."""
        transformer = read_config(model, "transformer/config.json")
        encoder = read_config(model, "text_encoder/config.json")
        vae = read_config(model, "vae/config.json")
        rejected = []
        text = encoder.get("text_config") or encoder
        kind = (encoder.get("architectures") or [None])[0]
        if kind and kind != "Mistral3ForConditionalGeneration":
            rejected.append(Rejected("model", settings.model, f"this checkpoint's text encoder is {kind}; "
                                     "Flux2Pipeline encodes prompts with Mistral3ForConditionalGeneration",
                                     "name a FLUX.2 [dev] folder (flux2-dev); FLUX.2 [klein] needs its own pipeline"))
        layers, width = text.get("num_hidden_layers"), text.get("hidden_size")
        if layers is not None and layers < max(TEXT_LAYERS):
            rejected.append(Rejected("model", settings.model, f"this checkpoint's text encoder has {layers} layers; "
                                     f"Flux2Pipeline reads its hidden states {', '.join(map(str, TEXT_LAYERS))}",
                                     "name a FLUX.2 [dev] folder with its Mistral Small 3.1 text encoder"))
        joint = transformer.get("joint_attention_dim")
        if joint is not None and width is not None and joint != width * len(TEXT_LAYERS):
            rejected.append(Rejected("model", settings.model, f"the transformer reads text features of {joint} "
                                     f"values, and the text encoder gives {len(TEXT_LAYERS)} x {width}",
                                     "use the transformer and text encoder of one FLUX.2 release"))
        latents, channels = vae.get("latent_channels"), transformer.get("in_channels")
        if latents is not None and channels is not None and channels != 4 * latents:
            rejected.append(Rejected("model", settings.model, f"the transformer takes {channels} channels and the "
                                     f"VAE makes latents of {latents} (in 2x2 patches: {4 * latents})",
                                     "use the transformer and VAE of one FLUX.2 release"))
        return rejected

    def prepare(self, settings, plan: Plan, shot: Shot, film: Film) -> dict:
        references = [photograph(shot, plan.width, plan.height)]
        if "reference" in shot.assets:
            from PIL import Image

            references.append(Image.fromarray(fit(load_rgb(shot.assets["reference"]), plan.width, plan.height,
                                                  "cover")))
        return {"image": references}

    def call_kwargs(self, settings, plan: Plan, images: dict, prompt: str, negative: str) -> dict:
        kwargs = dict(image=images["image"], prompt=prompt, height=plan.height, width=plan.width,
                      num_inference_steps=self.steps(settings), guidance_scale=self.guidance(settings),
                      output_type="np")
        if settings.max_sequence_length:
            kwargs["max_sequence_length"] = settings.max_sequence_length
        if negative:
            self.report["negative_prompt_note"] = "FLUX.2 [dev] is guidance-distilled: the negative prompt is not used"
        return kwargs

    def output(self, result) -> np.ndarray:
        return np.asarray(result.images, dtype=np.float32)
