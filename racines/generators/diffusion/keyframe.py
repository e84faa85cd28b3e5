"""The floral counterpart of a photograph, made from it by prompt: image-to-image (Stable
Diffusion 1.5, SDXL, FLUX.1) or instruction editing (FLUX.1 Kontext), chosen by the model's
pipeline class. As a shot, the keyframe is held as a still; as a ``target:`` of ``wan-flf2v`` or
``ltx``, it becomes the clip's last frame.

Example (shot file)::

    generator: {kind: still, prompt: a portrait made of jasmine flowers, seed: 5}
    final:
      kind: keyframe
      model: sdxl                # or sd1.5, flux-dev (image-to-image), flux-kontext (editing)
      strength: 0.65             # image-to-image: 0 keeps the photograph, 1 ignores it
      lora: [{path: loras/pressed_flowers.safetensors, scale: 0.8}]

    # or inside a morph's final block:
    final:
      kind: wan-flf2v
      target: {model: flux-kontext, prompt: "turn her scarf into jasmine flowers", guidance: 2.5}
      # or made by another keyframe kind, named by kind: (its own block's fields):
      # target: {kind: inpaint, model: sd1.5-inpainting, prompt: jasmine, mask: masks/scarf.png}
      # target: {kind: flux2, model: flux2-dev, prompt: "turn her scarf into jasmine", reference: flowers/j.jpg}

Runnable example::

    from racines.film.loader import load_film
    from racines.generators import get_generator
    film = load_film("my-film", profile="final")
    clip = get_generator("keyframe").generate(film.shots["s050"], film)   # one float frame

Sides must be divisible by 16. Image-to-image runs ``int(steps * strength)`` denoising steps,
so ``steps * strength`` must reach 1.
"""

from __future__ import annotations

import dataclasses
from typing import Annotated, Any, Literal, Union

import numpy as np
from PIL import Image
from pydantic import Discriminator, Tag

from racines.film.images import fit, load_rgb
from racines.film.model import Film, Shot
from racines.film.schema import Native
from racines.generators.diffusion.base import DiffusionGenerator, Plan, StillDiffusionGenerator
from racines.generators.diffusion.flux2 import Flux2Generator, Flux2Settings
from racines.generators.diffusion.inpaint import InpaintGenerator, InpaintSettings
from racines.generators.diffusion.settings import DiffusionBase, KeyframeSpec
from racines.generators.diffusion.timing import to_uint8

#: model_index.json class -> the pipeline that makes a keyframe from a photograph with its weights
FAMILIES = {
    "StableDiffusionPipeline": "StableDiffusionImg2ImgPipeline",
    "StableDiffusionImg2ImgPipeline": "StableDiffusionImg2ImgPipeline",
    "StableDiffusionXLPipeline": "StableDiffusionXLImg2ImgPipeline",
    "StableDiffusionXLImg2ImgPipeline": "StableDiffusionXLImg2ImgPipeline",
    "FluxPipeline": "FluxImg2ImgPipeline",
    "FluxImg2ImgPipeline": "FluxImg2ImgPipeline",
    "FluxKontextPipeline": "FluxKontextPipeline",
}
DEFAULTS = {  # steps, guidance
    "StableDiffusionImg2ImgPipeline": (30, 7.5),
    "StableDiffusionXLImg2ImgPipeline": (30, 7.0),
    "FluxImg2ImgPipeline": (28, 3.5),
    "FluxKontextPipeline": (28, 2.5),
}


class KeyframeSettings(KeyframeSpec):
    """The floral counterpart made from the photograph by prompt, held as a still."""

    kind: Literal["keyframe"]


class KeyframeGenerator(StillDiffusionGenerator):
    name = "keyframe"
    version = "1"
    settings = KeyframeSettings
    defaults = DEFAULTS
    accepts = tuple(FAMILIES)
    native = Native(width=1024, height=1024, frames=1, fps=1)
    multiple = 16

    def pipeline_class(self, model) -> str:
        return FAMILIES[model.kind]

    def call_kwargs(self, settings, plan: Plan, images: dict, prompt: str, negative: str) -> dict:
        family = self.pipeline_name
        steps, guidance = DEFAULTS[family]
        kwargs = dict(image=images["image"], prompt=prompt, num_inference_steps=settings.steps or steps,
                      guidance_scale=settings.guidance if settings.guidance is not None else guidance,
                      output_type="np")  # the family's defaults, not the class's
        if family.startswith("StableDiffusion"):
            kwargs.update(negative_prompt=negative, strength=settings.strength)  # size: the image's own
        else:
            kwargs.update(height=plan.height, width=plan.width)
            if family == "FluxImg2ImgPipeline":
                kwargs["strength"] = settings.strength
            else:
                # Kontext makes max_area pixels at height:width's aspect (1024^2 unless told), and would
                # resize the photograph to its preferred sizes: keep the asked size and framing
                kwargs.update(max_area=plan.width * plan.height, _auto_resize=False)
            if negative:
                self.report["negative_prompt_note"] = "FLUX.1 [dev] is guidance-distilled: the negative prompt " \
                                                      "is not used"
        if settings.max_sequence_length:
            kwargs["max_sequence_length"] = settings.max_sequence_length
        return kwargs

    def output(self, result) -> np.ndarray:
        return np.asarray(result.images, dtype=np.float32)


def _target_form(value: Any) -> str | None:
    """Which form a ``target:`` takes: an image path, or a mapping made by the kind it names
    (image-to-image by prompt when it names none)."""
    if isinstance(value, str):
        return "path"
    if isinstance(value, dict):
        kind = value.get("kind", "prompt")
        return kind if isinstance(kind, str) else None
    return next((tag for tag, (settings, _) in MAKERS.items() if type(value) is settings), None)


#: a target's ``kind:`` -> the settings of the keyframe it makes, and the generator that runs them
MAKERS: dict[str, tuple[type[DiffusionBase], type[DiffusionGenerator]]] = {
    "prompt": (KeyframeSpec, KeyframeGenerator),
    "keyframe": (KeyframeSettings, KeyframeGenerator),
    "inpaint": (InpaintSettings, InpaintGenerator),
    "flux2": (Flux2Settings, Flux2Generator),
}
Target = Annotated[
    Union[(Annotated[str, Tag("path")], *(Annotated[settings, Tag(tag)] for tag, (settings, _) in MAKERS.items()))],  # noqa: UP007 - built from MAKERS
    Discriminator(_target_form, custom_error_type="target_form", custom_error_message=(
        "a target is an image path, or a mapping that makes it: by prompt (no kind), or with kind: "
        f"{', '.join(tag for tag in MAKERS if tag != 'prompt')}"))]


def maker(spec: DiffusionBase) -> DiffusionGenerator:
    """The generator that makes a target keyframe from its settings."""
    return next(generator for settings, generator in MAKERS.values() if type(spec) is settings)()


def make_keyframe(spec, shot: Shot, film: Film, width: int, height: int) -> tuple[Image.Image, dict]:
    """A keyframe for a clip of ``width`` x ``height`` (a ``target:`` mapping); and its report."""
    generator = maker(spec)
    # by default the clip's size, so that the last frame matches the first
    plan = generator.plan(spec, shot, film) if spec.width or spec.height else Plan(width, height, 1, 1)
    generator.check_inputs(spec, plan)
    # the target's own images (a FLUX.2 reference...), under the names its generator reads
    nested = {name.removeprefix("target."): path for name, path in shot.assets.items() if name.startswith("target.")}
    frames = generator.run(spec, plan, dataclasses.replace(shot, assets=nested), film)
    still = to_uint8(frames[0])
    if still.shape[:2] != (height, width):
        still = fit(still, width, height, "cover")
    return Image.fromarray(still), {**generator.provenance(), "apparatus": generator.cards}  # its card, for the clip's


def keyframe_runs(settings) -> list[tuple[tuple, DiffusionGenerator, DiffusionBase]]:
    """A clip's target keyframe, as a run of the generator that makes it: (location, generator,
    settings), for the clip's :meth:`DiffusionGenerator.runs`."""
    target = getattr(settings, "target", None)
    return [(("final", "target"), maker(target), target)] if isinstance(target, DiffusionBase) else []


def last_frame(settings, plan: Plan, shot: Shot, film: Film, report: dict) -> Image.Image | None:
    """The target as the clip's last frame: the shot's target image, or a keyframe made from the
    photograph (by prompt, inpainting or FLUX.2: its own pipeline runs first, at this clip's size)."""
    target = getattr(settings, "target", None)
    if target is None:
        return None
    if isinstance(target, DiffusionBase):
        image, report["keyframe"] = make_keyframe(target, shot, film, plan.width, plan.height)
        return image
    return Image.fromarray(fit(load_rgb(shot.assets["target"]), plan.width, plan.height, "cover"))
