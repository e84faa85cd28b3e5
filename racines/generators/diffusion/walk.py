"""A latent walk: the shot's walk of prompts and seeds (:mod:`racines.generators.walk`) made by an
image model, one picture per frame: Stable Diffusion 1.x/2.x or SDXL, text-to-image.

Example (shot file)::

    duration: 48
    generator:                   # the draft: title cards of the prompts (racines.generators.walk)
      kind: walk
      negative_prompt: blurry
      walk:
        - {frame: 0, prompt: "a face, 1962 photograph", seed: 3}
        - {frame: 47, prompt: "jasmine flowers", seed: 9}
    final:
      kind: latent-walk
      model: sd1.5               # or sdxl: an image model (one text embedding per frame)
      steps: 30
      every: 2                   # diffuse one frame in two; optical flow makes the others
      # walk: and easing: are the draft's unless written here

Runnable example::

    from racines.film.loader import load_film
    from racines.generators import get_generator
    film = load_film("my-film", profile="final")
    clip = get_generator("latent-walk").generate(film.shots["s090"], film)   # (48, h, w, 3) floats

Each keyframe's prompts are encoded once by the pipeline's own ``encode_prompt``; each seed's
noise is drawn once, as the pipeline itself draws it (a CPU generator, the embeddings' dtype).
A frame then mixes the embeddings linearly (SDXL: the pooled ones too) and slerps the two
keyframes' noises, in float64 on the CPU, and calls the pipeline with ``prompt_embeds=`` and
``latents=``: a keyframe's frame is bit for bit the plain call with its prompt and seed, and a
walk run twice on the same machine is the same walk. Text is mixed linearly, not by slerp:
padded token rows are exactly zero in some encoders (a slerp divides by their norm), and a mix
of embeddings is what weighted prompts mean; the midpoint of two prompts can mean neither, and
the take's record shows where each frame stands. Noise is slerped because a linear mix of two
independent Gaussian draws loses norm (0.71 of it halfway) and the image goes grey.
"""

from __future__ import annotations

import hashlib
import json
import time
from fractions import Fraction
from typing import Any, ClassVar, Literal

import numpy as np
from pydantic import Field

from racines.errors import RenderFailed
from racines.film.model import Film, Shot
from racines.film.schema import MODEL_NAME_PATTERN, Native
from racines.generators.base import Easing
from racines.generators.diffusion.base import Clip, DiffusionGenerator, Plan, Rejected
from racines.generators.diffusion.settings import MODEL_DESCRIPTION, DiffusionBase
from racines.generators.walk import WALK_DESCRIPTION, WalkKey, explain_walk, schedule, slerp, walk_problems

#: model_index.json class -> the text-to-image pipeline that walks with its weights
FAMILIES = {
    "StableDiffusionPipeline": "StableDiffusionPipeline",
    "StableDiffusionImg2ImgPipeline": "StableDiffusionPipeline",
    "StableDiffusionXLPipeline": "StableDiffusionXLPipeline",
    "StableDiffusionXLImg2ImgPipeline": "StableDiffusionXLPipeline",
}


class LatentWalkSettings(DiffusionBase):
    """A walk through prompts and seeds made by an image model, one picture per frame."""

    kind: Literal["latent-walk"]
    model: str = Field("sd1.5", pattern=MODEL_NAME_PATTERN, description=MODEL_DESCRIPTION)
    walk: list[WalkKey] | None = Field(None, description=WALK_DESCRIPTION + " Default: the draft's walk.")
    easing: Easing | None = Field(None, description="Pace between keyframes; default: the draft's, else linear.")
    every: int = Field(1, ge=1, le=240, description="Diffuse one frame in this many (and every keyframe and the last "
                       "frame); the frames between are made by racines' optical-flow interpolation. 1: every frame.")

    photograph: ClassVar[bool] = False
    inherits: ClassVar[tuple[str, ...]] = ("prompt", "negative_prompt", "seed", "walk", "easing")

    def problems(self, frames: int) -> list[tuple[tuple, str, object, str]]:
        return super().problems(frames) + walk_problems(self.walk, frames)

    @classmethod
    def explain(cls, error: dict, loc: tuple) -> tuple[str, str] | None:
        return explain_walk(error, loc) or super().explain(error, loc)


def tensor_digest(tensor) -> str:
    """sha256 of a tensor's values as float32 (a changed text encoder shows, even under the same name)."""
    return hashlib.sha256(tensor.detach().float().cpu().contiguous().numpy().tobytes()).hexdigest()


class LatentWalkGenerator(DiffusionGenerator):
    name = "latent-walk"
    version = "1"
    settings = LatentWalkSettings
    accepts = tuple(FAMILIES)
    native = Native(width=512, height=512, frames=1, fps=24)
    multiple = 8           # the VAE's factor; the UNet's up-blocks follow any multiple of 8
    default_multiple = 64
    default_steps = 30
    default_guidance = 7.5

    def pipeline_class(self, model) -> str:
        return FAMILIES[model.kind]

    def plan(self, settings, shot: Shot, film: Film) -> Plan:
        plan = super().plan(settings, shot, film)
        return Plan(plan.width, plan.height, 1, 1)  # one picture per call; a call per frame

    def family_rejections(self, settings, plan: Plan) -> list[Rejected]:
        if settings.enhance_prompt:
            return [Rejected("enhance_prompt", settings.enhance_prompt, "a walk's keyframe prompts are used as "
                             "written (a rewrite would walk between other texts)", "remove enhance_prompt:")]
        return []

    def notes(self, shot: Shot, film: Film) -> list[str]:
        return []  # a picture per frame: never stretched into slow motion

    def key_extra(self, shot: Shot, film: Film, hashes) -> dict[str, object]:
        extra = super().key_extra(shot, film, hashes)
        settings = shot.generator
        steps = schedule(settings.walk, shot.frames, settings.seed, settings.easing or "linear")
        text = json.dumps([step.record() for step in steps], sort_keys=True, separators=(",", ":"))
        extra["walk schedule"] = hashlib.sha256(text.encode()).hexdigest()
        return extra

    def generate(self, shot: Shot, film: Film) -> Clip:
        settings = shot.generator
        plan = self.plan(settings, shot, film)
        self.check_inputs(settings, plan)
        self.report = {"plan": {"width": plan.width, "height": plan.height, "frames": shot.frames}}
        self.cards, self.strips = [], []
        frames = self.walk(settings, plan, shot, film)
        return Clip(frames=frames, fps=Fraction(film.rate))  # a frame of the shot per picture: no retiming

    # --- the walk ------------------------------------------------------------------------

    def encode(self, pipe, prompt: str, negative: str, guided: bool, device) -> dict[str, Any]:
        """The pipeline's own embeddings of a prompt (and of the negative prompt), by call argument."""
        if self.pipeline_name == "StableDiffusionXLPipeline":
            pe, npe, pooled, npooled = pipe.encode_prompt(prompt=prompt, device=device, num_images_per_prompt=1,
                                                          do_classifier_free_guidance=guided,
                                                          negative_prompt=negative)
            return {"prompt_embeds": pe, "negative_prompt_embeds": npe, "pooled_prompt_embeds": pooled,
                    "negative_pooled_prompt_embeds": npooled}
        pe, npe = pipe.encode_prompt(prompt, device, 1, guided, negative_prompt=negative)
        return {"prompt_embeds": pe, "negative_prompt_embeds": npe}

    @staticmethod
    def mix(embeddings: dict[str, dict[str, Any]], weights: dict[str, float], name: str):
        """The weighted sum of the prompts' ``name`` embeddings, in float64 on the CPU, back in their
        dtype and device (one prompt of weight 1: its embedding exactly)."""
        first = embeddings[next(iter(weights))][name]
        if first is None:
            return None
        total = None
        for text, weight in weights.items():
            term = embeddings[text][name].detach().cpu().double() * weight
            total = term if total is None else total + term
        return total.to(device=first.device, dtype=first.dtype)

    def walk(self, settings, plan: Plan, shot: Shot, film: Film) -> np.ndarray:
        """Load (or reuse) the pipeline, then a call per frame of the walk: float frames (n, h, w, 3)."""
        import torch
        from diffusers.utils.torch_utils import randn_tensor

        from racines.generators.diffusion import runtime

        on = runtime.device()
        model = self.checked_model(film, settings, plan)
        dtype = runtime.dtype_for(settings.precision, on, model.entry.variant)
        planned = self.memory_plan(model, plan, settings, on, dtype)
        loading = runtime.Loading(
            pipeline=self.pipeline_name, model=model, dtype=dtype, device=on,
            loras=tuple((str(shot.weights[lora.path]), lora.scale) for lora in settings.lora),
            offload=planned.offload, vae_tiling=planned.vae_tiling,
            speed=tuple(sorted(settings.speed.changed().items())))
        loaded = runtime.load(loading)
        pipe = loaded.pipe
        steps = schedule(settings.walk, shot.frames, settings.seed, settings.easing or "linear")
        guidance, negative = self.guidance(settings), settings.negative_prompt or ""
        guided = guidance > 1 and pipe.unet.config.time_cond_proj_dim is None  # as the pipeline decides
        where = pipe._execution_device  # the text encoder's device, offloaded or not
        prompts = list(dict.fromkeys(text for key in settings.walk for text in key.weights()))
        embeddings = {text: self.encode(pipe, text, negative, guided, where) for text in prompts}
        embeds_dtype = embeddings[prompts[0]]["prompt_embeds"].dtype
        shape = (1, pipe.unet.config.in_channels, plan.height // pipe.vae_scale_factor,
                 plan.width // pipe.vae_scale_factor)

        def drawn(seed: int):
            """The seed's generator after drawing its noise, and the noise: as the pipeline draws it."""
            generator = runtime.seeded(seed)
            noise = randn_tensor(shape, generator=generator, device=torch.device("cpu"), dtype=embeds_dtype)
            return generator, noise

        diffused = diffused_frames(settings, shot.frames)
        noises = {seed: drawn(seed)[1].float().numpy() for step in steps for seed in step.seeds}
        started, frames, retried = time.perf_counter(), {}, []
        xray = None
        if settings.xray is not None:  # the strip of the walk's first diffused frame
            from racines.generators.diffusion.xray import XRay

            xray = XRay(settings.xray.every, self.steps(settings), plan.width, plan.height)
        for step in (step for step in steps if step.frame in diffused):
            latents = torch.from_numpy(slerp(step.t, noises[step.seeds[0]], noises[step.seeds[1]])).to(embeds_dtype)
            kwargs = {name: self.mix(embeddings, step.prompts, name) for name in embeddings[prompts[0]]}
            kwargs.update(latents=latents, height=plan.height, width=plan.width,
                          num_inference_steps=self.steps(settings), guidance_scale=guidance, output_type="np")
            if xray is not None and not frames:
                xray.reset()
                kwargs.update(callback_on_step_end=xray, callback_on_step_end_tensor_inputs=["latents"])

            def call(kwargs=kwargs, step=step):
                # a stochastic scheduler draws from the nearer keyframe's generator, as its plain call would
                kwargs["generator"] = drawn(step.nearest_seed)[0]
                return np.asarray(pipe(**kwargs).images[0], dtype=np.float32)

            frame, notes = runtime.run_with_retry(call, lambda kwargs=kwargs: self.lower_memory(pipe, kwargs, loading))
            retried += notes
            if not np.isfinite(frame).all():
                raise RenderFailed(f"{shot.file}: latent-walk with model '{settings.model}': frame {step.frame} "
                                   "holds NaN or infinite values (a VAE overflow)\n"
                                   "    fix: set precision: bfloat16 or float32 in the final: block")
            frames[step.frame] = frame
        scheduler = pipe.scheduler
        card = self.card(pipe, model, settings, shot, prompts[0], {"num_inference_steps": self.steps(settings)}, {})
        from racines.generators.diffusion.apparatus import token_report

        card["prompt"]["keyframes"] = {text: token_report(pipe, text) for text in prompts}
        self.cards.append(card)
        if xray is not None:
            self.report["xray"] = {**xray.record(), "frame": min(diffused)}
            self.strips.append(xray.strip())
        self.report.setdefault("runs", []).append({
            "model": model.source, "pipeline": self.pipeline_name, "device": on,
            "dtype": str(dtype).replace("torch.", ""), "seed": settings.seed, "negative_prompt": negative,
            "memory_plan": planned.report(), "memory": loaded.notes + retried, "load_s": loaded.seconds,
            "denoise_and_decode_s": round(time.perf_counter() - started, 3),
            "scheduler": {"class": type(scheduler).__name__, "config": dict(scheduler.config)},
            "call": {"num_inference_steps": self.steps(settings), "guidance_scale": guidance,
                     "height": plan.height, "width": plan.width},
            "walk": {"keyframes": [key.model_dump(mode="json") for key in settings.walk],
                     "easing": settings.easing or "linear",
                     "text": "linear mix of the prompts' embeddings", "noise": "slerp of the keyframes' seeds' noise",
                     "embeddings": {text: {name: tensor_digest(value) for name, value in parts.items()
                                           if value is not None} for text, parts in embeddings.items()},
                     "frames": [step.record() for step in steps], "diffused": sorted(diffused),
                     "in_between": "optical flow between the diffused frames (racines.motion)"
                     if len(diffused) < shot.frames else None}})
        return np.stack(list(in_between(frames, shot.frames)))


def diffused_frames(settings, count: int) -> set[int]:
    """The frames a walk diffuses: one in ``every``, each keyframe, and the last."""
    return set(range(0, count, settings.every)) | {key.frame for key in settings.walk} | {count - 1}


def in_between(made: dict[int, np.ndarray], count: int):
    """All ``count`` frames: the diffused ones as made, those between two of them interpolated
    along the pair's optical flow at their exact place (computed once per pair)."""
    from racines.generators.diffusion.timing import QUALITY, between, motion_of

    known = sorted(made)
    interpolator, pair = None, None
    for frame in range(count):
        if frame in made:
            yield made[frame]
            continue
        after = next(k for k in known if k > frame)
        before = max(k for k in known if k < frame)
        if interpolator is None:
            from racines.motion import for_quality

            interpolator = for_quality(QUALITY)
        if pair is None or pair[0] != before:
            pair = before, motion_of(interpolator, made[before], made[after])
        yield between(interpolator, pair[1], Fraction(frame - before, after - before))
