"""Inpainting: a masked region of the photograph metamorphoses (a face into jasmine) while the
rest of it stays, pixel for pixel. Stable Diffusion 1.5 inpainting (its 9-channel UNet) or SDXL
inpainting, by the model's pipeline class; the result is a keyframe, held as a still.

Example (shot file)::

    generator: {kind: still, prompt: her face becomes a spray of jasmine, seed: 5}
    final:
      kind: inpaint
      model: sd1.5-inpainting
      mask: masks/face.png          # white: repainted; black: kept (a greyscale image)
      # or a polygon drawn on the photograph, in fractions of its width and height:
      # polygon: [[0.35, 0.2], [0.65, 0.2], [0.6, 0.55], [0.4, 0.55]]
      # or in its pixels: polygon: [[410, 120], [760, 120], [700, 640]], polygon_units: pixels
      feather: 8                    # soften the mask's edge over 8 pixels (diffusers' mask blur)

Runnable example::

    from racines.film.loader import load_film
    from racines.generators import get_generator
    film = load_film("my-film", profile="final")
    clip = get_generator("inpaint").generate(film.shots["s060"], film)   # one float frame

The mask is drawn on the photograph: a mask image must have the photograph's size, or its aspect
ratio (within 1%, then it is resized to the photograph); it is then cropped to the generation size
exactly as the photograph is, and read as repaint where brighter than mid-grey. Outside the mask
the photograph is pasted back over the decoded image (diffusers' ``apply_overlay``), so the VAE's
round trip never touches the pixels that were to stay. Sides must be divisible by 8.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal

import numpy as np
from PIL import Image, ImageDraw
from pydantic import Field

from racines.film.images import fit, fit_point, load_rgb
from racines.film.model import Film, Shot
from racines.film.paths import PathRefused, confine
from racines.film.schema import MODEL_NAME_PATTERN, Native
from racines.generators.diffusion.base import Plan, Rejected, StillDiffusionGenerator, photograph, read_config
from racines.generators.diffusion.settings import MODEL_DESCRIPTION, DiffusionBase

#: model_index.json class -> the inpainting pipeline that runs its weights
FAMILIES = {
    "StableDiffusionInpaintPipeline": "StableDiffusionInpaintPipeline",
    "StableDiffusionPipeline": "StableDiffusionInpaintPipeline",
    "StableDiffusionXLInpaintPipeline": "StableDiffusionXLInpaintPipeline",
    "StableDiffusionXLPipeline": "StableDiffusionXLInpaintPipeline",
}
DEFAULTS = {  # steps, guidance (the model cards' examples)
    "StableDiffusionInpaintPipeline": (50, 7.5),
    "StableDiffusionXLInpaintPipeline": (30, 8.0),
}
ASPECT_TOLERANCE = 0.01


class InpaintSettings(DiffusionBase):
    """A masked region of the photograph repainted by prompt; the rest kept. Held as a still."""

    kind: Literal["inpaint"]
    model: str = Field("sd1.5-inpainting", pattern=MODEL_NAME_PATTERN, description=MODEL_DESCRIPTION)
    mask: str | None = Field(None, description="What is repainted, as a greyscale image (white: repaint, black: "
                             "keep; a path relative to this shot file) of the photograph's size or aspect ratio. "
                             "Or give polygon instead.")
    polygon: list[Annotated[list[float], Field(min_length=2, max_length=2)]] | None = Field(
        None, min_length=3, max_length=1000, description="What is repainted, drawn on the photograph: at least 3 "
        "points [x, y], joined in order (the last to the first). Or give mask instead.")
    polygon_units: Literal["relative", "pixels"] = Field(
        "relative", description="'relative': fractions of the photograph's width and height (0 to 1); 'pixels': "
        "pixels of the photograph as stored (after its EXIF rotation), from its top-left corner.")
    strength: float = Field(1.0, gt=0.0, le=1.0, description="How far the masked region departs from the "
                            "photograph (1: repainted from noise).")
    feather: int = Field(0, ge=0, le=256, description="Blur radius of the mask's edge in pixels of the generation "
                         "size, so the repainted region blends in (0: a hard edge).")
    mask_padding: int | None = Field(
        None, ge=0, le=4096, description="Repaint only a crop around the mask, grown by this many pixels, at the "
        "full generation size (diffusers' padding_mask_crop): finer detail for a small region.")

    images: ClassVar[tuple[str, ...]] = ("mask",)

    def problems(self, frames: int) -> list[tuple[tuple, str, Any, str]]:
        if (self.mask is None) == (self.polygon is None):
            given = None if self.mask is None else {"mask": self.mask, "polygon": [list(p) for p in self.polygon]}
            return [(("mask",), "inpainting needs one mask: an image or a polygon" if given is None else
                     "give a mask image or a polygon, not both", given,
                     "add mask: masks/NAME.png (white: repaint) or polygon: [[x, y], [x, y], [x, y]]"
                     if given is None else "remove one of them")]
        if self.polygon is None or self.polygon_units != "relative":
            return []
        return [(("polygon", index), "a relative point must lie within the photograph (0 to 1)", list(point),
                 "give fractions of the photograph's width and height, or add polygon_units: pixels")
                for index, point in enumerate(self.polygon) if not all(0.0 <= v <= 1.0 for v in point)]

    @classmethod
    def explain(cls, error: dict, loc: tuple) -> tuple[str, str] | None:
        if loc == ("polygon",) and error.get("type") == "too_short":
            return "a polygon needs at least 3 points", "add points: [[x, y], [x, y], [x, y], ...]"
        return None


class MaskProblem(ValueError):
    def __init__(self, message: str, value: Any, fix: str):
        super().__init__(message)
        self.value, self.fix = value, fix


def mask_path(shot: Shot, film: Film, settings: InpaintSettings) -> Path:
    """The mask image's file, confined to the project (the loader checked it as an image already)."""
    try:
        return confine(film.root, (film.root / shot.file).parent, settings.mask)
    except PathRefused as exc:
        raise MaskProblem(str(exc), settings.mask, exc.fix) from exc


def mask_for(settings: InpaintSettings, photo_size: tuple[int, int], width: int, height: int,
             mask_file: Path | None = None) -> Image.Image:
    """The mask at the generation size, cropped as the photograph is: mode L, 255 where repainted,
    0 where kept. Raise :class:`MaskProblem` naming what is wrong with it."""
    photo_w, photo_h = photo_size
    if settings.polygon is not None:
        points = settings.polygon
        if settings.polygon_units == "pixels":
            outside = [list(p) for p in points if not (0 <= p[0] <= photo_w and 0 <= p[1] <= photo_h)]
            if outside:
                raise MaskProblem(f"the polygon leaves the {photo_w}x{photo_h} photograph", outside[0],
                                  f"keep x within 0..{photo_w} and y within 0..{photo_h}")
            points = [(x / photo_w, y / photo_h) for x, y in points]
        # pixel edges of the photograph are 0 and 1: fit_point maps them onto the cropped frame
        drawn = [fit_point(x, y, photo_w, photo_h, width, height, "cover") for x, y in points]
        # PIL still draws the outline of a flat polygon: its area (the shoelace formula) decides
        area = abs(sum(x0 * y1 - x1 * y0 for (x0, y0), (x1, y1) in zip(drawn, drawn[1:] + drawn[:1]))) / 2
        if area < 1.0:
            raise MaskProblem(f"the polygon encloses {area:.1f} pixels of the generated image: its points lie on "
                              "a line or too close together", [list(p) for p in settings.polygon],
                              "draw the polygon around the region to repaint")
        canvas = Image.new("L", (width, height), 0)
        ImageDraw.Draw(canvas).polygon([(x + 0.5, y + 0.5) for x, y in drawn], fill=255)
        mask = np.asarray(canvas)
        if not mask.any():
            raise MaskProblem("the polygon covers no pixel of the generated image (it has no area, or lies in a part "
                              "the crop to the generation size leaves out)", [list(p) for p in settings.polygon],
                              "draw the polygon around the region to repaint, inside the framed picture")
    else:
        grey = load_rgb(mask_file).mean(axis=2)
        mask_h, mask_w = grey.shape
        if (mask_w, mask_h) != (photo_w, photo_h):
            if abs(mask_w / mask_h - photo_w / photo_h) > ASPECT_TOLERANCE * photo_w / photo_h:
                raise MaskProblem(f"the mask is {mask_w}x{mask_h}, and the photograph {photo_w}x{photo_h}: "
                                  "another shape", settings.mask, f"draw the mask on the photograph itself, at "
                                  f"{photo_w}x{photo_h} (or the same aspect ratio)")
        if not (grey >= 128).any():
            raise MaskProblem("the mask is all black: nothing would be repainted", settings.mask,
                              "paint white where the photograph should change")
        binary = np.where(grey >= 128, 255, 0).astype(np.uint8)
        if (mask_w, mask_h) != (photo_w, photo_h):
            binary = np.asarray(Image.fromarray(binary).resize((photo_w, photo_h), Image.Resampling.BILINEAR))
        framed = fit(np.repeat(binary[..., None], 3, axis=2), width, height, "cover")[..., 0]
        mask = np.where(framed >= 128, 255, 0).astype(np.uint8)
        if not mask.any():
            raise MaskProblem("the mask's white region lies outside the part of the photograph the generation size "
                              "frames", settings.mask, "paint the region to repaint nearer the photograph's centre, "
                              "or set width and height to the photograph's aspect")
    return Image.fromarray(mask)  # 2-D uint8: mode L


class InpaintGenerator(StillDiffusionGenerator):
    name = "inpaint"
    version = "1"
    settings = InpaintSettings
    defaults = DEFAULTS
    strength_runs = "inpainting"
    accepts = tuple(FAMILIES)
    native = Native(width=512, height=512, frames=1, fps=1)
    multiple = 8

    def pipeline_class(self, model) -> str:
        return FAMILIES[model.kind]

    def model_rejections(self, model, plan: Plan, settings) -> list[Rejected]:
        """The UNet's input channels say what the checkpoint is: 9 (latents, mask, masked image) an
        inpainting one, 4 a text-to-image one (diffusers then blends the mask in latent space, with
        visible seams), anything else a model of another task (8: instruction editing)."""
        channels = read_config(model, "unet/config.json").get("in_channels")
        if channels not in (None, 4, 9):
            return [Rejected("model", settings.model, f"this checkpoint's UNet takes {channels} input channels: it "
                             "is not an inpainting or text-to-image Stable Diffusion model",
                             "name an inpainting model (sd1.5-inpainting, sdxl-inpainting)")]
        return []

    def image_problems(self, settings, where: tuple, shot: Shot, film: Film) -> list[tuple[tuple, str, Any, str]]:
        """Its mask against the photograph (size, polygon, something to repaint): a final: block's,
        or a clip's target keyframe's (``where``: final.target)."""
        plan = self.plan(settings, shot, film)
        try:
            source = load_rgb(shot.source.path)  # as generation sees it: after its EXIF rotation
            size = (source.shape[1], source.shape[0])
            file = None if settings.mask is None else mask_path(shot, film, settings)
            mask_for(settings, size, plan.width, plan.height, file)
        except MaskProblem as exc:
            return [((*where, "mask" if settings.polygon is None else "polygon"), str(exc), exc.value, exc.fix)]
        return []

    def prepare(self, settings, plan: Plan, shot: Shot, film: Film) -> dict:
        photo = photograph(shot, plan.width, plan.height)
        source = load_rgb(shot.source.path)
        file = None if settings.mask is None else mask_path(shot, film, settings)
        mask = mask_for(settings, (source.shape[1], source.shape[0]), plan.width, plan.height, file)
        return {"image": photo, "mask": mask}

    def call_kwargs(self, settings, plan: Plan, images: dict, prompt: str, negative: str) -> dict:
        family = self.pipeline_name
        steps, guidance = DEFAULTS[family]
        mask = images["mask"]
        if settings.feather:
            from diffusers.image_processor import VaeImageProcessor

            mask = VaeImageProcessor.blur(mask, settings.feather)
        # with padding_mask_crop the pipeline pastes the photograph back itself
        self._overlay = None if settings.mask_padding is not None else (mask, images["image"])
        kwargs = dict(prompt=prompt, negative_prompt=negative, image=images["image"], mask_image=mask,
                      height=plan.height, width=plan.width, strength=settings.strength,
                      num_inference_steps=settings.steps or steps,
                      guidance_scale=settings.guidance if settings.guidance is not None else guidance,
                      output_type="pil")  # apply_overlay composes PIL images
        if settings.mask_padding is not None:
            kwargs["padding_mask_crop"] = settings.mask_padding  # the pipeline overlays the crop itself
        return kwargs

    def configure(self, pipe, settings, plan: Plan) -> dict:
        if pipe.unet.config.in_channels == 4:
            return {"inpaint_note": "a text-to-image UNet: the mask is blended in latent space (an inpainting "
                                    "checkpoint keeps edges cleaner)"}
        return {}

    def output(self, result) -> np.ndarray:
        from diffusers.image_processor import VaeImageProcessor

        images = result.images
        if self._overlay is not None:
            # the photograph pasted back where the mask is black: the decoded image only inside it
            mask, photo = self._overlay
            images = [VaeImageProcessor().apply_overlay(mask, photo, image) for image in images]
        return np.stack([np.asarray(image.convert("RGB"), dtype=np.float32) / 255.0 for image in images])
