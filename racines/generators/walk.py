"""A walk through prompts and seeds: the schedule of keyframes a shot file writes, the per-frame
plan both profiles follow, and the weightless draft that shows it (title cards of the prompts
dissolving into each other over the seeds' noise).

Example (shot file)::

    duration: 48
    generator:
      kind: walk                   # the draft: title cards, no weights
      negative_prompt: blurry
      walk:
        - {frame: 0, prompt: "a face, 1962 photograph", seed: 3}
        - {frame: 24, prompt: {"a face, 1962 photograph": 1, "jasmine flowers": 2}}   # weighted prompts
        - {frame: 47, prompt: "jasmine flowers", seed: 9}
    final: {kind: latent-walk, model: sd1.5}   # the same walk through the model (diffusion/walk.py)

Between two keyframes, frame ``f`` sits at ``t = ease((f - a) / (b - a))``. The text is a weighted
mix of the prompts' embeddings: the earlier keyframe's weights times ``1 - t`` plus the later one's
times ``t`` (a linear interpolation; a keyframe's own weights are normalised to sum to 1). The
noise is a spherical interpolation (slerp) of the two keyframes' seeds' noise at the same ``t``,
which keeps the norm of a Gaussian draw. Past the last keyframe the walk holds it. On a keyframe
the frame is exactly what a plain call with its prompt and seed makes.

Plain data only: frame numbers, texts, weights and seeds; nothing in it is evaluated.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated, ClassVar, Literal, Union

import numpy as np
from PIL import Image, ImageDraw, ImageFont
from pydantic import Discriminator, Field, Tag

from racines.film.model import Film, Shot
from racines.film.schema import MAX_TEXT, GeneratorBase, KindProblem, Strict
from racines.generators.base import Easing, Generator, ease
from racines.media import fonts

Weight = Annotated[float, Field(gt=0.0, le=1000.0, allow_inf_nan=False)]
PromptText = Annotated[str, Field(min_length=1, max_length=MAX_TEXT)]
Prompt = Annotated[
    Union[Annotated[PromptText, Tag("text")], Annotated[dict[PromptText, Weight], Field(min_length=1), Tag("weights")]],  # noqa: UP007 - tagged
    Discriminator(lambda value: "text" if isinstance(value, str) else "weights" if isinstance(value, dict) else None,
                  custom_error_type="prompt_form", custom_error_message=(
                      "a keyframe's prompt is text, or texts with weights: {\"a face\": 2, \"jasmine\": 1}"))]


class WalkKey(Strict):
    """A keyframe of a walk: at this frame of the shot, this prompt (or weighted prompts) and seed."""

    frame: int = Field(ge=0, description="Frame of the shot, from 0 (handles excluded); keyframes in increasing order.")
    prompt: Prompt = Field(
        description="The text at this keyframe, or several texts with weights ({text: weight}): their embeddings "
        "are mixed in proportion (weights are normalised to sum to 1).")
    seed: int | None = Field(None, ge=0, le=2**63 - 1, description="The noise at this keyframe; default: the "
                             "block's seed.")

    def weights(self) -> dict[str, float]:
        if isinstance(self.prompt, str):
            return {self.prompt: 1.0}
        total = math.fsum(self.prompt.values())
        return {text: weight / total for text, weight in self.prompt.items()}


WALK_DESCRIPTION = ("Keyframes of the walk: [{frame, prompt, seed}...], the first at frame 0, frames increasing and "
                    "inside the shot. Text embeddings are mixed linearly between keyframes, the seeds' noise by slerp.")
PROMPT_FIX = 'write prompt: "jasmine flowers", or texts with weights above 0: {"a face": 2, "jasmine flowers": 1}'
WALK_FIX = "write walk: [{frame: 0, prompt: \"a face\", seed: 3}, {frame: 47, prompt: \"jasmine\", seed: 9}]"


def walk_problems(keys: list[WalkKey] | None, frames: int) -> list[KindProblem]:
    """The schedule's rules in a shot of ``frames`` frames, located under ``walk``."""
    if keys is None:
        return [(("walk",), "a walk needs its keyframes", None, WALK_FIX)]
    if len(keys) < 2:
        return [(("walk",), f"a walk needs two keyframes at least (got {len(keys)})", len(keys),
                 "add a keyframe to walk towards")]
    found: list[KindProblem] = []
    if keys[0].frame != 0:
        found.append((("walk", 0, "frame"), "the first keyframe must be at frame 0 (the walk starts there)",
                      keys[0].frame, "set the first keyframe's frame to 0, or add one at 0"))
    for index, key in enumerate(keys):
        if index and key.frame <= keys[index - 1].frame:
            found.append((("walk", index, "frame"), f"keyframes must be in increasing frame order: this one comes "
                          f"after frame {keys[index - 1].frame}", key.frame,
                          f"use a frame above {keys[index - 1].frame}, or reorder the keyframes"))
        if key.frame >= frames:
            found.append((("walk", index, "frame"), f"past the shot's end: it has {frames} frames (0 to {frames - 1})",
                          key.frame, f"use a frame from 0 to {frames - 1}, or lengthen the shot's duration"))
    return found


def explain_walk(error: dict, loc: tuple) -> tuple[str, str] | None:
    """A keyframe's prompt that is neither text nor weighted texts, in the shot file's terms."""
    if len(loc) >= 3 and loc[0] == "walk" and loc[2] == "prompt":
        message = error.get("msg", "not a prompt")
        if error.get("type") == "too_short":
            return "texts with weights need one text at least", PROMPT_FIX
        if len(loc) > 3:
            message = f"the weight of '{loc[3]}': {message[:1].lower()}{message[1:]}"
        return message, PROMPT_FIX
    return None


@dataclass(frozen=True)
class Step:
    """One frame of the walk: where it stands between two keyframes and what it mixes."""

    frame: int
    before: int             # index of the keyframe at or before the frame
    after: int              # index of the next keyframe (== before past the last one)
    t: float                # eased position between them, 0 on ``before``
    prompts: dict[str, float]   # the text mix: prompt -> weight (summing to 1; zero weights left out)
    seeds: tuple[int, int]  # the noise: slerp(t, noise(seeds[0]), noise(seeds[1]))

    @property
    def nearest_seed(self) -> int:
        """The seed of the nearer keyframe (the generator a stochastic scheduler draws from)."""
        return self.seeds[0] if self.t < 0.5 else self.seeds[1]

    def record(self) -> dict:
        return {"frame": self.frame, "keyframes": [self.before, self.after], "t": round(self.t, 6),
                "prompts": {text: round(weight, 6) for text, weight in self.prompts.items()}, "seeds": list(self.seeds)}


def schedule(keys: list[WalkKey], frames: int, seed: int, easing: str = "linear") -> list[Step]:
    """Each of the ``frames`` frames of a (valid) walk; ``seed`` for keyframes that name none."""
    seeds = [key.seed if key.seed is not None else seed for key in keys]
    steps, index = [], 0
    for frame in range(frames):
        while index + 1 < len(keys) and keys[index + 1].frame <= frame:
            index += 1
        after = min(index + 1, len(keys) - 1)
        if after == index:
            t = 0.0
        else:
            t = float(ease((frame - keys[index].frame) / (keys[after].frame - keys[index].frame), easing))
        mix: dict[str, float] = {}
        for key, share in ((keys[index], 1.0 - t), (keys[after], t)):
            for text, weight in key.weights().items():
                if share * weight > 0:
                    mix[text] = mix.get(text, 0.0) + share * weight
        steps.append(Step(frame, index, after, t, mix, (seeds[index], seeds[after])))
    return steps


def slerp(t: float, a: np.ndarray, b: np.ndarray, parallel: float = 0.9995) -> np.ndarray:
    """Spherical interpolation over the whole array, in float64 (the same on every machine), returned
    in ``a``'s dtype; exactly ``a`` at 0 and ``b`` at 1. Nearly parallel arrays are interpolated
    linearly (the sine of their angle would divide by almost nothing)."""
    if t <= 0.0:
        return a
    if t >= 1.0:
        return b
    a64, b64 = np.asarray(a, np.float64).ravel(), np.asarray(b, np.float64).ravel()
    norms = np.linalg.norm(a64) * np.linalg.norm(b64)
    dot = float(np.clip(a64 @ b64 / norms, -1.0, 1.0)) if norms else 1.0
    if abs(dot) > parallel:
        out = (1.0 - t) * a64 + t * b64
    else:
        theta = math.acos(dot)
        out = (math.sin((1.0 - t) * theta) * a64 + math.sin(t * theta) * b64) / math.sin(theta)
    return out.reshape(np.shape(a)).astype(np.asarray(a).dtype)


# --- the weightless draft --------------------------------------------------------------------


class WalkSettings(GeneratorBase):
    """A walk through prompts and seeds, drawn without weights: each keyframe's prompts as a title card,
    the cards dissolving with the weights the final's text mix uses, over the seeds' noise slerped as
    the final's is. Its ``walk:`` is the one a ``latent-walk`` final: block follows."""

    kind: Literal["walk"]
    walk: list[WalkKey] = Field(min_length=1, description=WALK_DESCRIPTION)
    easing: Easing = Field("linear", description="Pace between keyframes: linear, ease-in, ease-out, ease-in-out.")

    photograph: ClassVar[bool] = False  # a walk is made from prompts: no archive photograph

    def problems(self, frames: int) -> list[KindProblem]:
        return walk_problems(self.walk, frames)

    @classmethod
    def explain(cls, error: dict, loc: tuple) -> tuple[str, str] | None:
        return explain_walk(error, loc)


#: the draft's noise field: a coarse grid of four channels (as SD latents have), shown as colour
NOISE_CELL = 16
NOISE_TO_RGB = np.array([[0.35, 0.23, 0.32], [0.33, 0.50, 0.24], [-0.28, 0.18, 0.27], [-0.21, -0.26, -0.72]])


def seed_noise(seed: int, width: int, height: int) -> np.ndarray:
    """A seed's Gaussian noise on a coarse grid, (h, w, 4) float32 (the draft's stand-in for latents)."""
    rows, cols = max(1, height // NOISE_CELL), max(1, width // NOISE_CELL)
    return np.random.default_rng(seed).standard_normal((rows, cols, 4)).astype(np.float32)


def title_card(key: WalkKey, index: int, width: int, height: int) -> np.ndarray:
    """A keyframe as text: its prompts (with their weights when mixed), seed and frame; RGBA float
    in [0, 1], transparent where there is no text."""
    card = Image.new("RGBA", (width, height), (0, 0, 0, 0))
    draw = ImageDraw.Draw(card)
    lines = [text if isinstance(key.prompt, str) else f"{text} ({weight:.2f})"
             for text, weight in key.weights().items()]
    size = max(8, height // 18)
    font = ImageFont.truetype(str(fonts.SANS), size)
    wrapped = []
    for line in lines:  # wrap to the card's width
        words, current = line.split(), ""
        for word in words:
            trial = f"{current} {word}".strip()
            if current and draw.textlength(trial, font=font) > width * 0.86:
                wrapped.append(current)
                current = word
            else:
                current = trial
        wrapped.append(current)
    y = (height - len(wrapped) * size * 1.4) / 2
    for line in wrapped:
        draw.text(((width - draw.textlength(line, font=font)) / 2, y), line, font=font, fill=(244, 238, 226, 255))
        y += size * 1.4
    note = f"keyframe {index} - frame {key.frame}"
    small = ImageFont.truetype(str(fonts.SANS), max(6, size * 2 // 3))
    draw.text(((width - draw.textlength(note, font=small)) / 2, y + size * 0.4), note, font=small,
              fill=(200, 190, 160, 255))
    return np.asarray(card, dtype=np.float32) / 255.0


def draft_frame(step: Step, cards: list[np.ndarray], noises: dict[int, np.ndarray], frames: int,
                keyframes: list[int], width: int, height: int) -> np.ndarray:
    """One frame of the draft: the seeds' noise slerped (as colour, dimmed), the two keyframes' cards
    dissolved at ``t``, and a time line with the keyframes marked."""
    noise = slerp(step.t, noises[step.seeds[0]], noises[step.seeds[1]])
    colour = np.clip(0.18 + 0.12 * (noise @ NOISE_TO_RGB), 0.0, 1.0)
    background = np.asarray(Image.fromarray((colour * 255).astype(np.uint8)).resize((width, height), Image.NEAREST),
                            dtype=np.float32) / 255.0
    first, second = cards[step.before], cards[step.after]
    text = (1.0 - step.t) * first + step.t * second
    alpha = text[..., 3:4]
    picture = background * (1.0 - alpha) + text[..., :3] * alpha
    bar = max(2, height // 90)  # the time line: where the frame is, and the keyframes
    top = height - 4 * bar
    picture[top:top + bar, :, :] = 0.3
    picture[top:top + bar, : max(1, round(width * (step.frame + 1) / frames)), :] = 0.85
    for frame in keyframes:
        x = min(width - 1, round((width - 1) * frame / max(1, frames - 1)))
        picture[top - bar:top + 2 * bar, max(0, x - bar // 2):x + bar // 2 + 1, :] = (0.95, 0.8, 0.4)
    image = Image.fromarray((np.clip(picture, 0.0, 1.0) * 255 + 0.5).astype(np.uint8))
    draw = ImageDraw.Draw(image)  # where the frame stands: what the final's call at this frame is given
    font = ImageFont.truetype(str(fonts.SANS), max(6, height // 40))
    seeds = f"seed {step.seeds[0]}" if step.seeds[0] == step.seeds[1] else f"seeds {step.seeds[0]} > {step.seeds[1]}"
    draw.text((bar * 2, top - bar * 2 - font.size * 1.3), f"frame {step.frame}   t {step.t:.2f}   {seeds}",
              font=font, fill=(200, 190, 160))
    return np.asarray(image)


class WalkDraftGenerator(Generator):
    name = "walk"
    version = "1"
    settings = WalkSettings
    cost_per_frame = 1.0
    libraries = ("numpy", "pillow")

    def frames(self, shot: Shot, film: Film, derived: object = None) -> Iterator[np.ndarray]:
        settings = shot.generator
        steps = schedule(settings.walk, shot.frames, settings.seed, settings.easing)
        cards = [title_card(key, index, film.width, film.height) for index, key in enumerate(settings.walk)]
        noises = {seed: seed_noise(seed, film.width, film.height) for step in steps for seed in step.seeds}
        keyframes = [key.frame for key in settings.walk]
        for step in steps:
            yield draft_frame(step, cards, noises, shot.frames, keyframes, film.width, film.height)

    def provenance(self) -> dict:
        return {"note": "a draft of the walk: title cards of its prompts and the seeds' noise; no model ran"}
