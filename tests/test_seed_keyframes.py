"""A clip's ``target:`` made by the seeds' models: inpainting (a masked region of the photograph
repainted) and FLUX.2 [dev] editing, as the last frame of a wan-flf2v clip.

On tiny random weights, through ``racines render --profile final``: the keyframe equals a direct
diffusers call, and what reaches the video pipeline as its last image is that keyframe.
"""

from __future__ import annotations

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from racines.cli import main
from racines.generators.diffusion.base import DiffusionGenerator
from racines.generators.diffusion.timing import to_uint8
from racines.pipeline import load
from racines.takes.cache import HashCache, key_inputs
from racines.takes.store import TakeStore
from tests.conftest import decode_frames
from tests.test_seed_models import DRAFT, PHOTO, framed, make_mask, seeded, snapshot, write_project
from tests.test_seed_models import seed_hub as seed_hub_fixture  # noqa: F401 - a fixture, found by its name

PROMPT = "her scarf into jasmine"
# the photograph is 320x200: a 128x80 clip frames it whole (scale 0.4, no crop)
CLIP = ("final: {kind: wan-flf2v, model: tiny-wan-flf, width: 128, height: 80, num_frames: 5, "
        "max_sequence_length: 16, steps: 2, target: %s}")
TARGETS = {
    "inpaint": f"{{kind: inpaint, model: tiny-sd15-inpaint, prompt: {PROMPT}, steps: 2, mask: photos/mask.png}}",
    "flux2": f"{{kind: flux2, model: tiny-flux2, prompt: {PROMPT}, steps: 2, max_sequence_length: 16, "
             "reference: photos/bloom.png}",
}


@pytest.fixture
def hub(seed_hub_fixture):  # noqa: F811 - the imported fixture, by name
    """The tiny seed models (inpainting, FLUX.2) and video models, in a Hugging Face cache."""
    return seed_hub_fixture


def direct_keyframe(kind, root, hub) -> np.ndarray:
    """The keyframe as a plain diffusers script makes it: float (h, w, 3) in [0, 1]."""
    import diffusers
    from diffusers.image_processor import VaeImageProcessor

    photo = framed(root, "grid.png", 128, 80)
    if kind == "flux2":
        pipe = diffusers.Flux2Pipeline.from_pretrained(snapshot(hub, "flux2"))
        return pipe(image=[photo, framed(root, "bloom.png", 128, 80)], prompt=PROMPT, height=80, width=128,
                    num_inference_steps=2, guidance_scale=4.0, max_sequence_length=16, generator=seeded(),
                    output_type="np").images[0]
    pipe = diffusers.StableDiffusionInpaintPipeline.from_pretrained(
        snapshot(hub, "sd15-inpaint"), safety_checker=None, requires_safety_checker=False)
    mask = Image.new("L", (128, 80), 0)
    mask.paste(255, (40, 16, 88, 64))  # mask.png's box (100, 40, 220, 160) at scale 0.4
    image = pipe(prompt=PROMPT, negative_prompt="", image=photo, mask_image=mask, height=80, width=128, strength=1.0,
                 num_inference_steps=2, guidance_scale=7.5, generator=seeded(), output_type="pil").images[0]
    return np.asarray(VaeImageProcessor().apply_overlay(mask, photo, image), dtype=np.float32) / 255.0


def recording(monkeypatch, cls, name, seen: list, keep):
    """Wrap ``cls.name`` so that each call's ``keep(self, args, kwargs, result)`` is appended to ``seen``."""
    original = getattr(cls, name)

    def wrapper(self, *args, **kwargs):
        result = original(self, *args, **kwargs)
        seen.append(keep(self, args, kwargs, result))
        return result

    monkeypatch.setattr(cls, name, wrapper)


@pytest.mark.parametrize("kind", list(TARGETS))
def test_a_target_made_by_a_seed_model_is_the_last_frame_the_video_pipeline_gets(tmp_path, hub, monkeypatch,
                                                                                   kind):
    import diffusers

    root = write_project(tmp_path / "film", {"s010": PHOTO + DRAFT + CLIP % TARGETS[kind] + "\n"})
    keyframes, last_images = [], []
    recording(monkeypatch, DiffusionGenerator, "run", keyframes,
              lambda self, args, kwargs, frames: (self.name, frames))
    recording(monkeypatch, diffusers.WanImageToVideoPipeline, "__call__", last_images,
              lambda self, args, kwargs, result: kwargs.get("last_image"))
    result = CliRunner().invoke(main, ["--project", str(root), "render", "--profile", "final", "--shot", "s010"])
    assert result.exit_code == 0, result.output

    made = [frames for name, frames in keyframes if name == kind]
    assert len(made) == 1 and made[0].shape == (1, 80, 128, 3)
    expected = direct_keyframe(kind, root, hub)
    assert float(np.abs(made[0][0] - expected).max()) <= 1e-5
    if kind == "inpaint":  # outside the mask, the photograph itself
        photo = np.asarray(framed(root, "grid.png", 128, 80), dtype=np.float32) / 255.0
        assert float(np.abs(made[0][0, :16] - photo[:16]).max()) == 0.0
        assert float(np.abs(made[0][0, 16:64, 40:88] - photo[16:64, 40:88]).mean()) > 0.05

    assert len(last_images) == 1 and isinstance(last_images[0], Image.Image)
    assert np.array_equal(np.asarray(last_images[0]), to_uint8(expected))

    take = TakeStore(root).latest("s010")
    assert len(decode_frames(take.lossless, "rgb24", 64, 64)) == 12 + 2 * 8
    generation = take.manifest["generation"]
    run = generation["keyframe"]["runs"][0]
    assert run["pipeline"] == {"inpaint": "StableDiffusionInpaintPipeline", "flux2": "Flux2Pipeline"}[kind]
    assert run["prompt"] == PROMPT and run["seed"] == 3  # the seed inherited from the draft
    # the target's own images are the take's assets, hashed into its cache key
    name, file = {"inpaint": ("target.mask", "mask.png"), "flux2": ("target.reference", "bloom.png")}[kind]
    assert take.manifest["assets"][name]["path"] == f"shots/photos/{file}"
    assert take.manifest["cache_inputs"][f"{name} image"] == take.manifest["assets"][name]["sha256"]


def test_the_target_mask_and_reference_files_are_in_the_cache_key(tmp_path, hub):
    from racines.generators import get_generator

    root = write_project(tmp_path / "film", {"s010": PHOTO + DRAFT + CLIP % TARGETS["inpaint"] + "\n",
                                             "s020": PHOTO + DRAFT + CLIP % TARGETS["flux2"] + "\n"})
    film = load(root, "final")
    assert film.shots["s010"].assets == {"target.mask": root / "shots" / "photos" / "mask.png"}
    assert film.shots["s020"].assets == {"target.reference": root / "shots" / "photos" / "bloom.png"}
    before = key_inputs(film.shots["s010"], film, get_generator("wan-flf2v"), HashCache())
    make_mask(root / "shots" / "photos", box=(90, 40, 220, 160))
    after = key_inputs(load(root, "final").shots["s010"], film, get_generator("wan-flf2v"), HashCache())
    assert before["target.mask image"] != after["target.mask image"]


def validate(root):
    return CliRunner().invoke(main, ["--project", str(root), "validate", "--profile", "final"])


@pytest.mark.parametrize("target, message, fix", [
    ("{kind: inpaint, model: tiny-sd15-inpaint, polygon: [[0.1, 0.1], [0.5, 0.5], [1.5, 0.2]]}",
     "final.target.polygon.2: a relative point must lie within the photograph (0 to 1) (got [1.5, 0.2])",
     "fix: give fractions of the photograph's width and height, or add polygon_units: pixels"),
    ("{kind: inpaint, model: tiny-sd15-inpaint, polygon: [[0.1, 0.1], [0.5, 0.5]]}",
     "final.target.polygon: a polygon needs at least 3 points", "fix: add points"),
    ("{kind: inpaint, model: tiny-sd15-inpaint, mask: photos/black.png}",
     "final.target.mask: the mask is all black: nothing would be repainted (got 'photos/black.png')",
     "fix: paint white where the photograph should change"),
    ("{kind: inpaint, model: tiny-sd15-inpaint, mask: photos/square.png}",
     "final.target.mask: the mask is 100x100, and the photograph 320x200: another shape",
     "fix: draw the mask on the photograph itself, at 320x200"),
    ("{kind: inpaint, model: tiny-sd15-inpaint, mask: photos/nowhere.png}",
     "final.target.mask: no file at this path (got 'photos/nowhere.png')", "fix: check the spelling"),
    ("{kind: inpaint, model: tiny-sd15-inpaint}", "final.target.mask: inpainting needs one mask: an image or a polygon",
     "fix: add mask: masks/NAME.png (white: repaint) or polygon: [[x, y], [x, y], [x, y]]"),
    ("{kind: inpaint, model: tiny-flux2, polygon: [[0.1, 0.1], [0.5, 0.1], [0.5, 0.5]]}",
     "final.target.model: the folder holds a Flux2Pipeline; inpaint needs one of", "fix: name a model made for"),
    ("{kind: flux2, model: tiny-flux2, width: 48, height: 48}",
     "final.target.width: FLUX.2 takes the photograph as a reference image", "fix: use 64 or more"),
    ("{kind: repaint, model: tiny-flux2}", "final.target: a target is an image path, or a mapping that makes it",
     "fix: give an image path (flowers/NAME.jpg), or a mapping"),
])
def test_a_bad_target_is_refused_at_validation_naming_file_line_field_value_and_fix(tmp_path, hub, target,
                                                                                     message, fix):
    root = write_project(tmp_path / "film", {"s010": PHOTO + DRAFT + CLIP % target + "\n"})
    make_mask(root / "shots" / "photos", (320, 200), (0, 0, 0, 0), "black.png")
    make_mask(root / "shots" / "photos", (100, 100), (10, 10, 50, 50), "square.png")
    result = validate(root)
    assert result.exit_code == 2, result.output
    line = next((line for line in result.output.splitlines() if "final.target" in line), result.output)
    assert line.startswith("shots/s010.yaml:4: ") and message in line, result.output
    assert fix in result.output
    assert not (root / "renders" / "takes").exists()
