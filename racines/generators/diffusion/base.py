"""What every diffusion generator shares: shape rules, the generation plan, model resolution,
the cache-key inputs, and the path from a pipeline's float frames to the take's frames.

A generator module (svd.py, wan.py...) declares its settings model, its family's rules and
defaults, and turns a plan into the pipeline's call arguments; everything else happens here,
the same way for all:

    plan (size, frames, fps) -> check_inputs -> resolve and check the model -> load (cached)
      -> call with a CPU-seeded generator, retried once in a lower-memory mode after an OOM
      -> float frames (:meth:`DiffusionGenerator.generate`) -> retime, fit, quantise (:meth:`frames`)
"""

from __future__ import annotations

import importlib.util
import json
import math
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from fractions import Fraction
from typing import Any, ClassVar

import numpy as np
from PIL import Image

from racines.errors import ModelUnavailable, RacinesError, RenderFailed
from racines.film.images import fit, load_rgb
from racines.film.model import Film, Shot
from racines.film.schema import Native, models_of
from racines.generators.base import Generator
from racines.generators.diffusion.settings import DiffusionBase
from racines.generators.diffusion.timing import conform, slow_motion, speed_of, to_uint8
from racines.models.resolve import (
    ModelMissing,
    ModelRefused,
    ResolvedModel,
    UnknownModel,
    entry_of,
    fingerprint,
    resolve,
)


@dataclass(frozen=True)
class Rejected:
    """One input a pipeline cannot take: the field under ``final:``, its value, why, and the fix."""

    field: str
    value: Any
    message: str
    fix: str


class InputsRejected(ValueError):
    def __init__(self, rejected: list[Rejected]):
        self.rejected = list(rejected)
        super().__init__("; ".join(f"{r.field}: {r.message} (got {r.value!r}); fix: {r.fix}" for r in rejected))


@dataclass(frozen=True)
class Plan:
    """What the pipeline is asked to make, before the take's retiming and resizing."""

    width: int
    height: int
    num_frames: int
    fps: int


@dataclass
class Clip:
    frames: np.ndarray   # float32 (n, h, w, 3) in [0, 1]: the pipeline's output, before quantisation
    fps: Fraction        # the rate the model made them at


def nearest_multiples(value: int, multiple: int) -> str:
    low = value // multiple * multiple
    return f"{low + multiple}" if low == 0 else f"{low} or {low + multiple}"


def default_size(film: Film, native: Native, multiple: int, keep_native: bool = False) -> tuple[int, int]:
    """The model's native size when it has the film's aspect (or ``keep_native``); else its native
    area at the film's aspect. Sides are rounded to the model's multiple."""
    aspect = film.width / film.height
    if native.width and native.height:
        if keep_native or abs(native.width / native.height - aspect) / aspect < 0.02:
            return native.width, native.height
        area = native.width * native.height
    else:
        area = film.width * film.height
    width = max(multiple, round(math.sqrt(area * aspect) / multiple) * multiple)
    height = max(multiple, round(math.sqrt(area / aspect) / multiple) * multiple)
    return width, height


def read_config(model: ResolvedModel, name: str) -> dict:
    """A JSON file of the checkpoint (``transformer/config.json``, ``model_index.json``...); empty
    when absent or unreadable, so that a rule reading it stays silent rather than guessing."""
    try:
        data = json.loads((model.folder / name).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def photograph(shot: Shot, width: int, height: int) -> Image.Image:
    """The archive photograph, cropped to fill the generation size."""
    return Image.fromarray(fit(load_rgb(shot.source.path), width, height, "cover"))


def _version_of(package: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(package)
    except PackageNotFoundError:
        return "absent"


def _located(prefix: tuple, rejected: list[Rejected]) -> list[tuple[tuple, str, Any, str]]:
    return [((*prefix, *r.field.split(".")), r.message, r.value, r.fix) for r in rejected]


class DiffusionGenerator(Generator):
    """A generator that runs a diffusers pipeline on a model resolved through :mod:`racines.models`."""

    libraries = ("numpy", "opencv-python-headless", "pillow", "torch", "diffusers", "transformers")
    cost_per_frame = 500.0  # tens of denoising steps through a video transformer or UNet per clip
    runs_on_gpu = True      # a whole pipeline per worker: one worker per GPU in a batch
    #: pipeline classes (model_index.json ``_class_name``) whose folders this generator loads
    accepts: ClassVar[tuple[str, ...]]
    #: defaults when the model's entry does not say (racines models)
    native: ClassVar[Native] = Native()
    multiple: ClassVar[int] = 16
    default_multiple: ClassVar[int] = 0  # what default sizes are rounded to, when stricter than the rule
    default_steps: ClassVar[int] = 30
    default_guidance: ClassVar[float] = 5.0
    takes_lora: ClassVar[bool] = True
    takes_prompt: ClassVar[bool] = True
    frames_rule: ClassVar[str] = ""     # e.g. "4k+1" (shown in messages)
    keep_native_size: ClassVar[bool] = False  # default to the native size even at another aspect
    #: modules the pipeline imports only when it runs (module -> the package that installs it):
    #: checked at validation, not found as a NameError on the first prompt after loading
    needs: ClassVar[dict[str, str]] = {"torch": "torch", "diffusers": "diffusers", "transformers": "transformers"}

    def __init__(self):
        self.report: dict[str, Any] = {}
        self.cards: list[dict[str, Any]] = []        # the apparatus card of each pipeline run
        self.strips: list[Image.Image] = []          # the X-ray strips of the runs that asked for one

    # --- shapes --------------------------------------------------------------------------

    def valid_frames(self, count: int) -> bool:
        return True

    def frames_for(self, needed: int, most: int | None) -> int:
        """The smallest valid frame count from ``needed`` up, kept within ``most`` (the model's own)."""
        up = next((n for n in range(max(1, needed), needed + 64) if self.valid_frames(n)), None)
        limit = most or up or needed
        if up is not None and up <= limit:
            return up
        return next(n for n in range(limit, 0, -1) if self.valid_frames(n))

    def frames_fix(self, count: int) -> str:
        below = next((n for n in range(count, 0, -1) if self.valid_frames(n)), None)
        above = next((n for n in range(count, count + 64) if self.valid_frames(n)), None)
        return "use " + " or ".join(str(n) for n in (below, above) if n)

    def native_of(self, film: Film, settings) -> Native:
        try:
            entry = entry_of(film, settings.model).native
        except UnknownModel:
            entry = Native()
        return Native(**{k: getattr(entry, k) or getattr(self.native, k) for k in Native.model_fields})

    def plan(self, settings, shot: Shot, film: Film) -> Plan:
        native = self.native_of(film, settings)
        step = max(self.multiple, self.default_multiple)
        width, height = default_size(film, native, step, self.keep_native_size)
        if settings.width and settings.height:
            width, height = settings.width, settings.height
        elif settings.width or settings.height:  # one side given: the other keeps the film's aspect
            given = settings.width or settings.height
            other = given * (film.height / film.width if settings.width else film.width / film.height)
            other = max(step, round(other / step) * step)
            width, height = (given, other) if settings.width else (other, given)
        fps = getattr(settings, "fps", None) or native.fps or 24
        count = getattr(settings, "num_frames", None)
        if count is None:
            needed = math.ceil((shot.frames - 1) * Fraction(fps) / film.rate) + 1
            count = self.frames_for(needed, native.frames)
        return Plan(width, height, count, fps)

    def check_inputs(self, settings, plan: Plan) -> None:
        """Raise :class:`InputsRejected` naming every input this pipeline cannot take."""
        rejected = []
        for side, value in (("width", plan.width), ("height", plan.height)):
            if value % self.multiple:
                rejected.append(Rejected(side, value, f"{self.name} needs sides divisible by {self.multiple}",
                                         f"use {nearest_multiples(value, self.multiple)}"))
        if not self.valid_frames(plan.num_frames):
            rejected.append(Rejected("num_frames", plan.num_frames, f"{self.name} makes {self.frames_rule} frames",
                                     self.frames_fix(plan.num_frames)))
        if settings.lora and not self.takes_lora:
            rejected.append(Rejected("lora", [lora.path for lora in settings.lora],
                                     f"{self.name} pipelines cannot load LoRA adapters", "remove lora:"))
        rejected += self.family_rejections(settings, plan)
        if rejected:
            raise InputsRejected(rejected)

    def family_rejections(self, settings, plan: Plan) -> list[Rejected]:
        return []

    def image_problems(self, settings, where: tuple, shot: Shot, film: Film) -> list[tuple[tuple, str, Any, str]]:
        """Problems of the images the settings (at ``where`` in the shot file) name, against the
        photograph (an inpainting mask of another shape...): (location, message, value, fix)."""
        return []

    def model_rejections(self, model: ResolvedModel, plan: Plan, settings) -> list[Rejected]:
        """Rules that depend on the checkpoint itself (read from its config files)."""
        return []

    # --- validation (racines validate, and before any work in a render) ---------------------

    def check_shot(self, shot: Shot, film: Film, models: bool = True) -> list[tuple[tuple, str, Any, str]]:
        """Problems of the shot's final: block as (location, message, value, fix). With ``models``,
        the presence of its models too, when this run renders the shot at the final profile."""
        uses = self._uses(shot.final)
        found = []
        for loc, name, library, _, _ in uses:
            try:
                entry = entry_of(film, name)
            except UnknownModel as exc:
                found.append((loc, "no model of this name", name,
                              f"add it to models.yaml, or use one of: {', '.join(exc.known)}"))
                continue
            if entry.library != library:
                found.append((loc, f"'{name}' is a {entry.library} model; this needs a {library} one", name,
                              "name a model of the right kind (racines models lists them)"))
        if found:
            return found
        for loc, _, _, generator, part in uses:
            if generator is not None:
                try:
                    generator.check_inputs(part, generator.plan(part, shot, film))
                except InputsRejected as exc:
                    found += _located(loc[:-1], exc.rejected)
                if shot.source is not None:
                    found += generator.image_problems(part, loc[:-1], shot, film)
        if not shot.renders_final:
            return found
        for loc, _, _, generator, _ in uses:
            missing = [] if generator is None else [
                package for module, package in generator.needs.items() if importlib.util.find_spec(module) is None]
            if missing:
                found.append(((*loc[:-1], "kind"), f"{generator.name} needs the Python package"
                              f"{'s' if len(missing) > 1 else ''} {', '.join(missing)}, which "
                              f"{'are' if len(missing) > 1 else 'is'} not installed", generator.name,
                              f"pip install {' '.join(missing)}"))
        for loc, _, _, generator, part in uses:
            if generator is not None:  # a speed setting whose kernel or library is not installed
                found += [((*loc[:-1], "speed", field), f"{field} '{value}' {message}", value, fix)
                          for field, value, message, fix in part.speed.missing()]
        if not models:
            return found
        for loc, name, _, generator, part in uses:
            try:
                model = resolve(name, entry_of(film, name), film.root)
            except (ModelMissing, ModelRefused) as exc:
                found.append((loc, str(exc), name, exc.fix))
                continue
            if generator is None:
                continue  # a prompt enhancer: no pipeline class, no shapes
            if model.kind not in generator.accepts:
                found.append((loc, f"the folder holds a {model.kind}; {generator.name} needs one of "
                              f"{', '.join(generator.accepts)}", name, "name a model made for this kind"))
            else:
                found += _located(loc[:-1], generator.model_rejections(model, generator.plan(part, shot, film), part))
        return found

    def runs(self, settings) -> list[tuple[tuple, DiffusionGenerator, DiffusionBase]]:
        """The pipelines a final: block runs: (location, generator, its settings). This one; a kind
        that makes its target by prompt adds the keyframe's (keyframe.keyframe_runs)."""
        return [(("final",), self, settings)]

    def _uses(self, settings) -> list[tuple[tuple, str, str, DiffusionGenerator | None, DiffusionBase]]:
        """Every model the block uses: (location, name, library, the generator that runs it, its settings).
        The block's own, a keyframe target's, and the prompt enhancers (run by no generator)."""
        uses = []
        for prefix, generator, part in self.runs(settings):
            uses.append(((*prefix, "model"), part.model, "diffusers", generator, part))
            if part.enhance_prompt:
                uses.append(((*prefix, "enhance_prompt"), part.enhance_prompt, "transformers", None, part))
        return uses

    # --- cache key and provenance --------------------------------------------------------

    def key_extra(self, shot: Shot, film: Film, hashes) -> dict[str, object]:
        extra: dict[str, object] = {"profile": shot.profile}
        for name in models_of(shot.generator):
            try:
                extra[f"model {name}"] = fingerprint(resolve(name, entry_of(film, name), film.root), hashes.sha256)
            except (ModelMissing, ModelRefused, UnknownModel) as exc:
                extra[f"model {name}"] = f"unavailable: {exc}"
        for text, path in sorted(shot.weights.items()):
            # its tensors, not the file: a manifest stamped into the header keeps the takes' keys
            extra[f"lora {text}"] = hashes.tensors_sha256(path)
        for loc, part in getattr(shot.generator, "parts", lambda: [])():
            # speed settings round differently (kernels, compiled graphs) or approximate: recorded only
            # when set, so that takes made before the settings existed keep their keys
            if changed := part.speed.changed():
                extra[".".join(("speed", *loc))] = changed
                if changed.get("fp8"):
                    extra["library torchao"] = _version_of("torchao")
            if part.xray is not None:  # same pixels, but a take with its strip: recorded only when set
                extra[".".join(("xray", *loc))] = part.xray.model_dump(mode="json")
        return extra

    def models_for(self, shot: Shot, film: Film) -> list[str]:
        found = []
        for name in models_of(shot.generator):
            try:
                found.append(resolve(name, entry_of(film, name), film.root).source)
            except (ModelMissing, ModelRefused, UnknownModel):
                found.append(name)
        return found

    def describe(self, models: list[str] | None = None) -> str:
        # credits name the models without their commits
        return super().describe([m.split("@")[0] for m in (models or [])])

    def provenance(self) -> dict:
        report = dict(self.report)
        if isinstance(report.get("keyframe"), dict):  # a target keyframe's card goes to the apparatus card
            report["keyframe"] = {k: v for k, v in report["keyframe"].items() if k != "apparatus"}
        return report

    def apparatus(self) -> dict:
        """The card of the last take: each pipeline run's chain of models and what its encoders read,
        then the retiming to the film's rate (:mod:`racines.motion`)."""
        retime = {"role": "retime", "component": "racines.generators.diffusion.timing.conform",
                  "uses": "racines.motion optical-flow interpolation where frames fall between",
                  "parameters": 0, **({"retime": self.report["retime"]} if "retime" in self.report else {})}
        target = [{**card, "makes": "the target keyframe"} for card in (self.report.get("keyframe") or {}).get(
            "apparatus", [])]
        runs = target + list(self.cards)
        return {"generator": self.name, "version": self.version, "weights": True, "runs": runs,
                "after": [retime], "parameters": sum(card["parameters"] for card in runs)}

    def artefacts(self) -> dict[str, Image.Image]:
        from racines.generators.diffusion.xray import STRIP_NAME

        if len(self.strips) == 1:
            return {STRIP_NAME: self.strips[0]}
        return {STRIP_NAME.replace(".png", f"-{index}.png"): strip for index, strip in enumerate(self.strips, 1)}

    # --- generation ----------------------------------------------------------------------

    def pipeline_class(self, model: ResolvedModel) -> str:
        return self.accepts[0]

    def steps(self, settings) -> int:
        return settings.steps or self.default_steps

    def guidance(self, settings) -> float:
        return settings.guidance if settings.guidance is not None else self.default_guidance

    def prepare(self, settings, plan: Plan, shot: Shot, film: Film) -> dict:
        """The images the pipeline is given, made before it loads (a keyframe target runs its own
        pipeline first, so the two never sit in memory together)."""
        return {"image": photograph(shot, plan.width, plan.height)}

    def configure(self, pipe, settings, plan: Plan) -> dict:
        """Set what the pipeline takes from its components rather than its call (a scheduler's
        shift...) for this plan, on the loaded (perhaps reused) pipeline; return it for the report."""
        return {}

    def call_kwargs(self, settings, plan: Plan, images: dict, prompt: str, negative: str) -> dict:
        """The pipeline's arguments for this plan (images, prompts, sizes, steps, guidance...)."""
        raise NotImplementedError

    def output(self, result) -> np.ndarray:
        return np.asarray(result.frames[0], dtype=np.float32)

    #: the pipeline returns latents (``output_type="latent"``) that :meth:`decode` turns into frames
    decodes_latents: ClassVar[bool] = False

    def decode(self, pipe, latents) -> np.ndarray:
        """The float frames (n, h, w, 3) from the pipeline's latents, as its own call decodes them."""
        raise NotImplementedError(f"{self.name} decodes inside its pipeline")

    def memory_plan(self, model: ResolvedModel, plan: Plan, settings, on: str, dtype):
        """The offload and VAE tiling for this generation, chosen before loading (:mod:`.memory`)."""
        from racines.generators.diffusion import memory, runtime

        float32 = () if dtype.itemsize >= 4 else next(
            (parts for prefix, parts in runtime.FLOAT32_PARTS.items() if self.pipeline_name.startswith(prefix)), ())
        resident = runtime._last  # pipelines kept on the GPU are given back when this one needs their room
        reclaimable = sum(e.weight_bytes for e in resident.entries() if e.where == "gpu") if resident else 0
        shape = memory.Shape(plan.num_frames, plan.height, plan.width, guidance=self.guidance(settings) > 1)
        return memory.plan(model.folder, shape, dtype.itemsize, on, settings.memory.offload, settings.memory.vae_tiling,
                           float32, model.entry.variant, reclaimable)

    def lower_memory(self, pipe, kwargs: dict, loading) -> list[str]:
        """Change the pipeline or ``kwargs`` in place to use less memory; say what changed."""
        from racines.generators.diffusion import runtime

        return runtime.lower_memory(pipe, loading)

    def model(self, film: Film, settings) -> ResolvedModel:
        model = resolve(settings.model, entry_of(film, settings.model), film.root)
        if model.kind not in self.accepts:
            raise ModelRefused(f"the model '{settings.model}' holds a {model.kind}",
                               f"{self.name} needs one of {', '.join(self.accepts)}")
        return model

    def checked_model(self, film: Film, settings, plan: Plan) -> ResolvedModel:
        """The shot's model, refused with every reason its checkpoint does not fit ``plan``; the
        pipeline class it runs in remembered."""
        model = self.model(film, settings)
        rejected = self.model_rejections(model, plan, settings)
        if rejected:
            raise InputsRejected(rejected)
        self.pipeline_name = self.pipeline_class(model)
        return model

    def run(self, settings, plan: Plan, shot: Shot, film: Film) -> np.ndarray:
        """Load (or reuse) the pipeline and call it: the float frames, shape (n, h, w, 3)."""
        from racines.generators.diffusion import runtime
        from racines.generators.diffusion.prompts import enhance

        on = runtime.device()
        model = self.checked_model(film, settings, plan)
        prompt, negative = settings.prompt or "", settings.negative_prompt or ""
        report = {"model": model.source, "pipeline": self.pipeline_name, "prompt": prompt}
        images = self.prepare(settings, plan, shot, film)
        enhancer = None
        if settings.enhance_prompt and self.takes_prompt:
            enhancer = resolve(settings.enhance_prompt, entry_of(film, settings.enhance_prompt), film.root)
            prompt = enhance(prompt, enhancer, on)
            report.update(prompt_enhanced=prompt, prompt_enhancer=enhancer.source)
        dtype = runtime.dtype_for(settings.precision, on, model.entry.variant)
        planned = self.memory_plan(model, plan, settings, on, dtype)
        report["memory_plan"] = planned.report()
        loading = runtime.Loading(
            pipeline=self.pipeline_name, model=model, dtype=dtype,
            device=on, loras=tuple((str(shot.weights[lora.path]), lora.scale) for lora in settings.lora),
            offload=planned.offload, vae_tiling=planned.vae_tiling,
            speed=tuple(sorted(settings.speed.changed().items())))
        loaded = runtime.load(loading)
        report.update(self.configure(loaded.pipe, settings, plan))
        kwargs = self.call_kwargs(settings, plan, images, prompt, negative)
        xray = None
        if settings.xray is not None:
            from racines.generators.diffusion.xray import XRay

            xray = XRay(settings.xray.every, self.steps(settings), plan.width, plan.height, plan.num_frames)
            kwargs.update(callback_on_step_end=xray, callback_on_step_end_tensor_inputs=["latents"])
        started = time.perf_counter()

        def call():
            kwargs["generator"] = runtime.seeded(settings.seed)  # fresh noise for a retry too
            if xray is not None:
                xray.reset()
            if self.decodes_latents:  # the decode runs apart, so that running out of memory there retries it alone
                return loaded.pipe(**{**kwargs, "output_type": "latent"}).frames
            return self.output(loaded.pipe(**kwargs))

        frames, retried = runtime.run_with_retry(call, lambda: self.lower_memory(loaded.pipe, kwargs, loading))
        if self.decodes_latents:
            latents = frames
            frames, decoded = runtime.decode_with_retry(lambda: self.decode(loaded.pipe, latents), loaded.pipe)
            retried += decoded
        bad = int(np.size(frames) - np.isfinite(frames).sum())
        if bad:
            # diffusers' postprocessing turns NaN into black: a take of black frames, with no error
            raise RenderFailed(
                f"{shot.file}: {self.name} with model '{settings.model}': the decoded frames hold {bad} NaN or "
                f"infinite values (decode step, {str(loading.dtype).replace('torch.', '')}: a VAE overflow)\n"
                "    fix: set precision: bfloat16 or float32 in the final: block")
        report.update(device=on, dtype=str(loading.dtype).replace("torch.", ""), seed=settings.seed,
                      call={k: v for k, v in kwargs.items() if isinstance(v, (int, float, str, bool))},
                      memory=loaded.notes + retried, load_s=loaded.seconds,
                      denoise_and_decode_s=round(time.perf_counter() - started, 3))
        if xray is not None:
            report["xray"] = xray.record()
            self.strips.append(xray.strip())
        self.cards.append(self.card(loaded.pipe, model, settings, shot, prompt, kwargs, report, enhancer))
        if loading.speed:
            from racines.generators.diffusion import speed

            report["speed"] = {"settings": dict(loading.speed), "approximate": speed.approximate(dict(loading.speed))}
        if not self.takes_prompt:
            report["prompt_note"] = f"{self.name} takes no text prompt; the prompt is kept for the record only"
        self.report.setdefault("runs", []).append(report)
        return frames

    def card(self, pipe, model: ResolvedModel, settings, shot: Shot, received: str, kwargs: dict, report: dict,
             enhancer: ResolvedModel | None = None) -> dict:
        """The apparatus card of one pipeline run (:mod:`.apparatus`)."""
        from racines.generators.diffusion import apparatus

        loras = [apparatus.lora_record(shot.weights[lora.path], lora.scale, lora.path) for lora in settings.lora]
        return apparatus.card(
            pipe, model, written=settings.prompt or "", enhanced=report.get("prompt_enhanced"), enhancer=enhancer,
            received=received if self.takes_prompt else "", loras=loras, seed=settings.seed,
            max_sequence_length=kwargs.get("max_sequence_length"),
            steps=kwargs.get("num_inference_steps"))

    def generate(self, shot: Shot, film: Film) -> Clip:
        """The pipeline's float frames for this shot, before retiming, resizing and quantisation."""
        settings = shot.generator
        plan = self.plan(settings, shot, film)
        self.check_inputs(settings, plan)
        self.report = {"plan": asdict(plan)}
        self.cards, self.strips = [], []
        frames = self.run(settings, plan, shot, film)
        return Clip(frames=frames, fps=Fraction(plan.fps))

    def frames(self, shot: Shot, film: Film, derived: object = None) -> Iterator[np.ndarray]:
        try:
            clip = self.generate(shot, film)
        except (RacinesError, KeyboardInterrupt):
            raise
        except (ModelMissing, ModelRefused) as exc:
            raise ModelUnavailable(f"{shot.file}: final.model: {exc}\n    fix: {exc.fix}") from exc
        except Exception as exc:  # noqa: BLE001 - recorded as this shot's failure; other shots go on
            raise RenderFailed(f"{shot.file}: {self.name} with model '{shot.generator.model}' failed: "
                               f"{type(exc).__name__}: {exc}") from exc
        yield from self.take_frames(clip, shot, film)

    def notes(self, shot: Shot, film: Film) -> list[str]:
        """What a render of the shot at this profile should know before it runs: a clip the
        shot's length stretches into slow motion (from the plan, as the take will be made)."""
        if not shot.renders_final:
            return []
        plan = self.plan(shot.generator, shot, film)
        stretched = slow_motion(plan.num_frames, plan.fps, film.rate, shot.frames)
        return [stretched] if stretched else []

    def take_frames(self, clip: Clip, shot: Shot, film: Film) -> Iterator[np.ndarray]:
        """The clip as the take's frames: the shot's count at the film's rate and size, uint8."""
        self.report["retime"] = {"model_frames": len(clip.frames), "model_fps": str(clip.fps),
                                 "take_frames": shot.frames, "film_fps": film.rate_text,
                                 "speed": round(speed_of(len(clip.frames), clip.fps, film.rate, shot.frames), 4)}
        stretched = slow_motion(len(clip.frames), clip.fps, film.rate, shot.frames)
        if stretched:
            self.report["retime"]["note"] = stretched
        for frame in conform(clip.frames, clip.fps, film.rate, shot.frames, film.width, film.height):
            yield to_uint8(frame)


class StillDiffusionGenerator(DiffusionGenerator):
    """A kind that makes one image from the photograph (a keyframe, an inpainting): a plan of one
    frame, and a strength that must leave the pipeline at least one step to run."""

    defaults: dict[str, tuple[int, float]] = {}  # pipeline class: (steps, guidance)
    strength_runs = "image-to-image"             # what runs int(steps x strength) steps, for the message

    def plan(self, settings, shot: Shot, film: Film) -> Plan:
        plan = super().plan(settings, shot, film)
        return Plan(plan.width, plan.height, 1, 1)

    def family_rejections(self, settings, plan: Plan) -> list[Rejected]:
        steps = settings.steps or min(steps for steps, _ in self.defaults.values())  # the family is not known yet
        if settings.strength * steps < 1:
            return [Rejected("strength", settings.strength, f"{self.strength_runs} runs int(steps x strength) steps, "
                             f"none at {steps} steps", f"use a strength of at least {1 / steps:.3f}, or more steps")]
        return []

def check_final(shot: Shot, film: Film, models: bool = True) -> list[tuple[tuple, str, Any, str]]:
    """The loader's hook: the rules of the shot's final: block (see :meth:`DiffusionGenerator.check_shot`)."""
    if shot.final is None:
        return []
    from racines.generators.registry import get_generator

    return get_generator(shot.final.kind).check_shot(shot, film, models)
