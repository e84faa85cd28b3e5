"""The shot-file format, as pydantic models: data only, no I/O.

Two kinds of file live in ``shots/``: ``film.yaml`` (settings for the whole film) and one
YAML file per shot, named after the shot id. ``racines schema`` prints these models as
JSON Schema so that YAML editors can complete and check the files.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal, Optional, Union

from pydantic import BaseModel, ConfigDict, Field

SHOT_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$"
DURATION_PATTERN = r"^\s*\d+(\.\d+)?\s*(s|f)?\s*$"
TIMECODE_PATTERN = r"^\d\d:\d\d:\d\d[:;]\d\d$"
MODEL_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
REPO_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*$"

Profile = Literal["draft", "final"]

Duration = Union[
    Annotated[int, Field(ge=1, description="A whole number of frames.")],
    Annotated[
        str,
        Field(
            pattern=DURATION_PATTERN,
            description="Frames ('120' or '120f') or seconds ('5s', '4.5s'). Seconds are converted "
            "to frames with exact rational arithmetic at the film's rate, rounded to the nearest frame.",
        ),
    ],
]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, populate_by_name=True)


def pixel_settings(model: BaseModel) -> dict:
    """The settings as JSON data, without the fields marked as not changing the pixels
    (``json_schema_extra={"pixels": False}``, e.g. CPU offload): what a cache key hashes."""
    dumped, data = model.model_dump(mode="json"), {}
    for name, info in type(model).model_fields.items():
        if isinstance(info.json_schema_extra, dict) and info.json_schema_extra.get("pixels") is False:
            continue
        value = getattr(model, name)
        data[name] = pixel_settings(value) if isinstance(value, BaseModel) else dumped[name]
    return data


# --- film.yaml ---------------------------------------------------------------------------


class FilmSettings(Strict):
    """``shots/film.yaml``: settings shared by every shot."""

    title: str = Field(min_length=1, description="The film's title, used in file names and the EDL.")
    frame_rate: Union[int, str] = Field(
        24,
        description="Exact rate: 24, 25, 30, 48, 50, 60 or a rational such as '24000/1001' "
        "(never 23.976, which is not exact).",
        json_schema_extra={"examples": [24, "24000/1001", 25, "30000/1001"]},
    )
    resolution: Union[str, list[int]] = Field(
        "1280x720", description="'WIDTHxHEIGHT' or [WIDTH, HEIGHT]; both even.", examples=["1920x1080"]
    )
    timecode_start: str = Field(
        "01:00:00:00",
        pattern=TIMECODE_PATTERN,
        description="Record timecode of the film's first frame (';' before frames for drop-frame).",
    )
    cut: list[Annotated[str, Field(pattern=SHOT_ID_PATTERN)]] = Field(
        min_length=1, description="Shot ids in screen order; each names a file shots/<id>.yaml."
    )
    handles: int = Field(
        8, ge=0, le=240,
        description="Frames rendered beyond each end of every take, for the editor to trim into.",
    )
    profile: Profile = Field(
        "draft",
        description="'draft' renders every shot with its weightless generator (any machine); 'final' renders "
        "shots that have a final: block with their diffusion generator (GPU and model weights). A shot's own "
        "profile: and racines render --profile override it.",
    )


# --- shot files --------------------------------------------------------------------------


class Source(Strict):
    """The archive photograph a shot is made from, and the permission to use it."""

    photo: str = Field(
        min_length=1,
        description="Path to the photograph, relative to this shot file; it must stay inside the project.",
    )
    contributor: str = Field(min_length=1, description="Who brought the photograph.")
    consent: Literal["granted", "pending", "withdrawn"] = Field(
        description="Only 'granted' photographs are ever rendered."
    )
    credit: str = Field("", description="Credit line for the end credits; defaults to the contributor.")


class Framing(Strict):
    """A window on the photograph: centre in [0, 1] of the frame-filling crop, zoom >= 1."""

    x: float = Field(0.5, ge=0.0, le=1.0)
    y: float = Field(0.5, ge=0.0, le=1.0)
    zoom: float = Field(1.0, ge=1.0, le=8.0)


Easing = Literal["linear", "ease-in", "ease-out", "ease-in-out"]
Fit = Literal["cover", "contain"]


class GeneratorBase(Strict):
    prompt: str = Field("", description="What the shot should show; kept in the take's manifest.")
    negative_prompt: str = ""
    seed: int = Field(0, ge=0, le=2**63 - 1, description="Seed for any randomness in the generator.")


class StillSettings(GeneratorBase):
    """A hold on the photograph."""

    kind: Literal["still"]
    fit: Fit = Field("cover", description="'cover' fills the frame (cropping); 'contain' letterboxes.")


class KenBurnsSettings(GeneratorBase):
    """Pan and zoom across the photograph, the documentary classic."""

    kind: Literal["kenburns"]
    start: Framing = Field(default_factory=Framing)
    end: Framing = Field(default_factory=lambda: Framing(zoom=1.25))
    easing: Easing = "ease-in-out"


Coordinate = Annotated[float, Field(ge=0.0, le=1.0)]
Point = Annotated[
    list[Coordinate],
    Field(min_length=2, max_length=2,
          description="[x, y]: 0 is the left (top) edge of the image, 1 the right (bottom)."),
]
ControlPoint = Annotated[
    list[Point],
    Field(min_length=2, max_length=2,
          description="[[x, y] on the photograph, [x, y] on the target]: this point of the photograph "
          "travels to that point of the target."),
]


class MorphSettings(GeneratorBase):
    """The photograph flowing into a target image (a flower, a landscape...)."""

    kind: Literal["morph"]
    target: str = Field(min_length=1, description="Target image, relative to this shot file, inside the project.")
    easing: Easing = Field("ease-in-out", description="Pace of the morph: linear, ease-in, ease-out, ease-in-out.")
    hold_start: int = Field(0, ge=0, description="Frames holding the photograph before the morph begins.")
    hold_end: int = Field(0, ge=0, description="Frames holding the target after the morph ends.")
    fit: Fit = "cover"
    control_points: list[ControlPoint] = Field(
        default_factory=list,
        description="Pairs of matching points, e.g. [[0.42, 0.31], [0.55, 0.40]] takes the grandmother's eye "
        "to the heart of the flower. Coordinates are fractions of each image file's width and height "
        "(as displayed), so they survive a change of resolution.",
    )
    auto_match: bool = Field(True, description="Also find matching features automatically (SIFT + RANSAC).")
    flow_strength: float = Field(
        0.5, ge=0.0, le=1.0,
        description="How much optical flow pulls the two images' edges into register: 0 mesh only, 1 full.",
    )
    colour_transfer: bool = Field(True, description="Let the palette flow from the photograph's to the target's.")
    even_pace: bool = Field(
        True, description="Spread the visible change evenly over the morph (before easing), so nothing pops.",
    )


class CreditsSettings(GeneratorBase):
    """The end credits card, built from the provenance of every shot in the cut."""

    kind: Literal["credits"]
    heading: str = "Racines"
    extra_lines: list[str] = Field(default_factory=list, description="Lines added after the contributors.")


GeneratorSettings = Annotated[
    Union[StillSettings, KenBurnsSettings, MorphSettings, CreditsSettings],
    Field(discriminator="kind"),
]

# --- final: diffusion generators ---------------------------------------------------------
# A shot's generator: block is its draft (weightless). Its optional final: block names the
# diffusion generator used when the shot's profile is 'final'. Unset prompt, negative_prompt
# and seed are inherited from the draft, and so is a morph's target.


class Lora(Strict):
    """A LoRA adapter: a .safetensors file inside the project, applied with a scale."""

    path: str = Field(min_length=1, description="Path to the .safetensors file, relative to this shot file.")
    scale: float = Field(1.0, ge=-4.0, le=4.0, description="Strength of the adapter (1 = as trained).")


class Memory(Strict):
    """Memory savers for large models on small GPUs. Offload needs a CUDA GPU and is skipped without one."""

    offload: Literal["none", "model", "sequential"] = Field(
        "none", description="'model' moves each model to the GPU only while it runs; 'sequential' goes layer by "
        "layer (least memory, slowest). Does not change the pixels.", json_schema_extra={"pixels": False})
    vae_tiling: bool = Field(False, description="Decode the video in tiles (less memory, slight seams possible).")
    decode_chunk_size: Optional[int] = Field(
        None, ge=1, le=256, description="Frames decoded at once (SVD; other families decode in one go).")


MODEL_DESCRIPTION = "A name from racines models (models.yaml or the built-in list)."


class DiffusionBase(Strict):
    prompt: Optional[str] = Field(None, description="Default: the draft's prompt.")
    negative_prompt: Optional[str] = Field(None, description="Default: the draft's negative_prompt.")
    seed: Optional[int] = Field(None, ge=0, le=2**63 - 1, description="Default: the draft's seed.")
    steps: Optional[int] = Field(None, ge=1, le=500, description="Denoising steps; default: the kind's own.")
    guidance: Optional[float] = Field(None, ge=0.0, le=50.0, description="Guidance scale; default: the kind's own.")
    width: Optional[int] = Field(None, ge=16, le=8192, description="Generation width; default: the model's native "
                                 "size at the film's aspect. The take is always resized to the film's size.")
    height: Optional[int] = Field(None, ge=16, le=8192, description="Generation height (see width).")
    lora: list[Lora] = Field(default_factory=list, description="LoRA adapters, applied in order.")
    enhance_prompt: Optional[str] = Field(
        None, pattern=MODEL_NAME_PATTERN, description="Name of a local language model that rewrites the prompt "
        "before generation (off by default); the manifest keeps both prompts.")
    precision: Literal["auto", "bfloat16", "float16", "float32"] = Field(
        "auto", description="'auto': bfloat16 on a CUDA GPU, float32 on the CPU.")
    memory: Memory = Field(default_factory=Memory)
    max_sequence_length: Optional[int] = Field(
        None, ge=1, le=1024, description="Text tokens the encoder reads; default: the pipeline's own.")


class VideoBase(DiffusionBase):
    num_frames: Optional[int] = Field(
        None, ge=1, le=1025, description="Frames the model generates; default: enough to cover the shot at fps, "
        "rounded to what the model accepts. They are retimed to the shot's duration at the film's rate.")
    fps: Optional[int] = Field(None, ge=1, le=120, description="The model's native frame rate; default: its own.")


class KeyframeSpec(DiffusionBase):
    """A still made from the photograph by prompt: image-to-image (SD, SDXL, Flux) or instruction editing
    (Flux Kontext), chosen by the model's pipeline class."""

    model: str = Field("sdxl", pattern=MODEL_NAME_PATTERN, description=MODEL_DESCRIPTION)
    strength: float = Field(0.6, ge=0.0, le=1.0, description="Image-to-image: how far from the photograph "
                            "(0 keeps it, 1 ignores it). Instruction editing ignores it.")


Target = Union[str, KeyframeSpec]
TARGET_DESCRIPTION = ("The last frame: an image path relative to this shot file, or a mapping that makes it from "
                      "the photograph by prompt (model, prompt, strength...). Default: the morph draft's target.")


class SvdSettings(VideoBase):
    """Stable Video Diffusion (SVD, SVD-XT): the photograph comes alive. No text prompt."""

    kind: Literal["svd"]
    model: str = Field("svd-xt", pattern=MODEL_NAME_PATTERN, description=MODEL_DESCRIPTION)
    min_guidance: float = Field(1.0, ge=0.0, le=50.0, description="Guidance on the first frame (ramps to guidance).")
    motion_bucket_id: int = Field(127, ge=0, le=1023, description="More motion when higher.")
    noise_aug_strength: float = Field(0.02, ge=0.0, le=1.0, description="More motion, less likeness when higher.")


class WanI2VSettings(VideoBase):
    """Wan 2.1 / 2.2 image-to-video."""

    kind: Literal["wan-i2v"]
    model: str = Field("wan2.1-i2v-480p", pattern=MODEL_NAME_PATTERN, description=MODEL_DESCRIPTION)
    guidance_2: Optional[float] = Field(None, ge=0.0, le=50.0, description="Wan 2.2 A14B: guidance of the "
                                        "low-noise expert.")


class WanFLF2VSettings(WanI2VSettings):
    """Wan first+last frame: the photograph becomes the target over the clip."""

    kind: Literal["wan-flf2v"]
    model: str = Field("wan2.1-flf2v-720p", pattern=MODEL_NAME_PATTERN, description=MODEL_DESCRIPTION)
    target: Optional[Target] = Field(None, description=TARGET_DESCRIPTION)


class LtxSettings(VideoBase):
    """LTX-Video keyframe conditioning (LTXConditionPipeline): the photograph on the first frame and, with a
    target, the target on the last."""

    kind: Literal["ltx"]
    model: str = Field("ltx-video-0.9.5", pattern=MODEL_NAME_PATTERN, description=MODEL_DESCRIPTION)
    target: Optional[Target] = Field(None, description=TARGET_DESCRIPTION)
    decode_timestep: float = Field(0.05, ge=0.0, le=1.0)
    image_cond_noise_scale: float = Field(0.025, ge=0.0, le=1.0)


class CogVideoXSettings(VideoBase):
    """CogVideoX image-to-video."""

    kind: Literal["cogvideox"]
    model: str = Field("cogvideox-5b-i2v", pattern=MODEL_NAME_PATTERN, description=MODEL_DESCRIPTION)
    use_dynamic_cfg: bool = False


class KeyframeSettings(KeyframeSpec):
    """The floral counterpart made from the photograph by prompt, held as a still."""

    kind: Literal["keyframe"]


FinalSettings = Annotated[
    Union[SvdSettings, WanI2VSettings, WanFLF2VSettings, LtxSettings, CogVideoXSettings, KeyframeSettings],
    Field(discriminator="kind"),
]
DRAFT_KINDS = ("still", "kenburns", "morph", "credits")
FINAL_KINDS = ("svd", "wan-i2v", "wan-flf2v", "ltx", "cogvideox", "keyframe")


def models_of(settings: DiffusionBase) -> list[str]:
    """Every model name a final: block uses: its own, a keyframe target's, the prompt enhancers'."""
    parts = [settings]
    if isinstance(getattr(settings, "target", None), KeyframeSpec):
        parts.append(settings.target)
    names = []
    for part in parts:
        names += [part.model] + ([part.enhance_prompt] if part.enhance_prompt else [])
    return list(dict.fromkeys(names))


class Dissolve(Strict):
    dissolve: Duration = Field(description="Length of the dissolve into the next shot.")


class Trim(Strict):
    """Frames the cut leaves out at each end of the shot (negative: taken from the handles).

    Trims are editorial: changing them never makes a new take. ``racines conform`` writes them.
    """

    head: int = 0
    tail: int = 0


class ShotFile(Strict):
    """``shots/<id>.yaml``: one shot, owned by one person, so files merge well in git."""

    source: Source | None = Field(None, description="Required for every generator but 'credits'.")
    duration: Duration
    generator: GeneratorSettings
    transition: Union[Literal["cut"], Dissolve] = Field(
        "cut", description="'cut', or {dissolve: N} frames/seconds into the next shot in the cut."
    )
    trim: Trim = Field(default_factory=Trim, description="Editorial trims written by racines conform.")
    final: Optional[FinalSettings] = Field(
        None, description="The diffusion generator used when the shot's profile is 'final' (see racines models).")
    profile: Optional[Profile] = Field(None, description="This shot's profile; default: the film's.")
    notes: str = ""


# --- models.yaml ---------------------------------------------------------------------------


class Native(Strict):
    """What a model was trained on: the defaults of the shots that use it."""

    width: Optional[int] = Field(None, ge=16, le=8192)
    height: Optional[int] = Field(None, ge=16, le=8192)
    frames: Optional[int] = Field(None, ge=1, le=1025)
    fps: Optional[int] = Field(None, ge=1, le=120)


class ModelEntry(Strict):
    """One model: a Hugging Face repo id at a revision (found in the local HF cache, never downloaded), or a
    folder inside the project. Weights must be safetensors; custom code is never run."""

    repo: Optional[str] = Field(None, pattern=REPO_ID_PATTERN, description="Hugging Face repo id, e.g. "
                                "Wan-AI/Wan2.1-FLF2V-14B-720P-diffusers.")
    revision: Optional[str] = Field(None, min_length=1, description="A commit hash (pinned) or a branch/tag, "
                                    "resolved offline through the HF cache; default: main.")
    path: Optional[str] = Field(None, min_length=1, description="A pipeline folder relative to the project "
                                "(or inside the HF cache).")
    variant: Optional[str] = Field(None, pattern=r"^[A-Za-z0-9_]+$", description="Weights variant, e.g. fp16.")
    library: Literal["diffusers", "transformers"] = Field(
        "diffusers", description="'diffusers': a pipeline folder (model_index.json); 'transformers': a language "
        "model for enhance_prompt.")
    licence: str = Field("", description="The weights' licence (the model card's, when present, is shown too).")
    description: str = ""
    native: Native = Field(default_factory=Native)


class ModelsFile(Strict):
    """``models.yaml`` at the project root: names for the models shots use (added to the built-in list)."""

    models: dict[Annotated[str, Field(pattern=MODEL_NAME_PATTERN)], ModelEntry] = Field(default_factory=dict)


def parse_duration_text(text: str) -> tuple[str, str]:
    """Split '4.5s' into ('4.5', 's'); frames are the default unit."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([sf]?)\s*", text)
    if not match:
        raise ValueError(text)
    return match.group(1), match.group(2) or "f"
