"""The models that make keyframes from the archive photographs: inpainting (a masked region
repainted, the rest kept), FLUX.2 [dev] editing with reference images and its Mistral text
encoder, and Stable Diffusion 1.5 as published (safety checker and feature extractor listed).

Each runs on tiny random-weight models through racines' own loading from a Hugging Face cache
layout; racines' float frames must equal a direct diffusers call with the same inputs and seed.
"""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

from racines.cli import main
from racines.film.images import fit, load_rgb
from racines.generators import get_generator
from racines.pipeline import load
from racines.takes.store import TakeStore
from tests.conftest import decode_frames, write_diffusion_project

PHOTO = "source: {photo: photos/grid.png, contributor: Amina, consent: granted}\nduration: 12\n"
DRAFT = "generator: {kind: morph, prompt: her face into jasmine flowers, seed: 3, target: photos/bloom.png}\n"
PROMPT = "her face into jasmine flowers"
SEED_MODELS = """\
  tiny-sd15: {repo: racines-tiny/sd15, licence: test-only}
  tiny-sd15-inpaint: {repo: racines-tiny/sd15-inpaint, licence: test-only}
  tiny-flux2: {repo: racines-tiny/flux2, licence: test-only}
"""
# the photograph is 320x200: generated at its aspect (64x40), no crop; the film is 64x64
INPAINT = "final: {kind: inpaint, model: tiny-sd15-inpaint, width: 64, height: 40, steps: 2, %s}"
SHOTS = {
    "inpaint-file": INPAINT % "mask: photos/mask.png",
    "inpaint-polygon": INPAINT % "polygon: [[0.3, 0.2], [0.7, 0.2], [0.6, 0.8], [0.4, 0.8]]",
    "inpaint-feather": INPAINT % "mask: photos/mask.png, feather: 3, strength: 0.75",
    "inpaint-t2i": INPAINT.replace("tiny-sd15-inpaint", "tiny-sd15") % "mask: photos/mask.png",
    "inpaint-crop": INPAINT % "polygon: [[120, 50], [200, 50], [200, 150]], polygon_units: pixels, mask_padding: 4",
    "flux2": "final: {kind: flux2, model: tiny-flux2, width: 64, height: 64, steps: 2, max_sequence_length: 16, "
             "reference: photos/bloom.png}",
    "sd15": "final: {kind: keyframe, model: tiny-sd15, width: 64, height: 32, steps: 2, strength: 0.6}",
}


def make_mask(folder, size=(320, 200), box=(100, 40, 220, 160), name="mask.png"):
    """White (repaint) inside ``box``, black elsewhere; an RGB file, as a painter saves one."""
    mask = Image.new("RGB", size, (0, 0, 0))
    mask.paste((255, 255, 255), box)
    mask.save(folder / name)


@pytest.fixture(scope="module")
def seed_hub(tiny_hub):
    from racines.generators.diffusion import tiny

    for build, repo in (("sd1.5", "sd15"), ("sd1.5-inpaint", "sd15-inpaint"), ("flux2", "flux2")):
        tiny.into_hf_cache(tiny.BUILDERS[build](), tiny_hub, f"racines-tiny/{repo}")
        if build.startswith("sd"):
            # as published: without torchvision, transformers 5 saves its PIL fallback's name instead
            index = snapshot(tiny_hub, repo) / "model_index.json"
            data = json.loads(index.read_text())
            index.write_text(json.dumps({**data, "feature_extractor": ["transformers", "CLIPImageProcessor"]}))
    return tiny_hub


def write_project(root, shots: dict[str, str], resolution="64x64"):
    write_diffusion_project(root, shots, resolution)
    with open(root / "models.yaml", "a") as handle:
        handle.write(SEED_MODELS)
    make_mask(root / "shots" / "photos")
    return root


@pytest.fixture
def project(tmp_path, seed_hub):
    ids = {name: f"s{index:02d}0" for index, name in enumerate(SHOTS, 1)}
    root = write_project(tmp_path / "film", {ids[n]: PHOTO + DRAFT + SHOTS[n] + "\n" for n in SHOTS})
    return root, ids


def snapshot(hub, repo):
    return next((hub / f"models--racines-tiny--{repo}" / "snapshots").iterdir())


def framed(root, name, width, height):
    return Image.fromarray(fit(load_rgb(root / "shots" / "photos" / name), width, height, "cover"))


def seeded(seed=3):
    return torch.Generator("cpu").manual_seed(seed)


def box_mask(width, height):
    """The mask of mask.png (photograph pixels 100..220 x 40..160) on the 64x40 cover crop of the
    320x200 photograph: scale 0.2, no crop in x, none in y."""
    mask = Image.new("L", (width, height), 0)
    mask.paste(255, (20, 8, 44, 32))
    return mask


def direct_call(kind, root, hub):
    """The same generation as a plain diffusers script writes it."""
    import diffusers
    from diffusers.image_processor import VaeImageProcessor

    if kind.startswith("inpaint"):
        pipe = diffusers.StableDiffusionInpaintPipeline.from_pretrained(
            snapshot(hub, "sd15" if kind == "inpaint-t2i" else "sd15-inpaint"), safety_checker=None,
            requires_safety_checker=False)
        photo = framed(root, "grid.png", 64, 40)
        if kind == "inpaint-polygon":  # the relative polygon on the photograph, scaled onto the frame
            mask = Image.new("L", (64, 40), 0)
            points = [(0.3, 0.2), (0.7, 0.2), (0.6, 0.8), (0.4, 0.8)]
            from PIL import ImageDraw

            ImageDraw.Draw(mask).polygon([(x * 64, y * 40) for x, y in points], fill=255)
        elif kind == "inpaint-crop":
            mask = Image.new("L", (64, 40), 0)
            from PIL import ImageDraw

            ImageDraw.Draw(mask).polygon([(24, 10), (40, 10), (40, 30)], fill=255)
        else:
            mask = box_mask(64, 40)
        if kind == "inpaint-feather":
            mask = VaeImageProcessor.blur(mask, 3)
        args = dict(prompt=PROMPT, negative_prompt="", image=photo, mask_image=mask, height=40, width=64,
                    strength=0.75 if kind == "inpaint-feather" else 1.0,
                    num_inference_steps=2,
                    guidance_scale=7.5, generator=seeded(), output_type="pil")
        if kind == "inpaint-crop":
            image = pipe(**args, padding_mask_crop=4).images[0]
        else:
            image = VaeImageProcessor().apply_overlay(mask, photo, pipe(**args).images[0])
        return np.asarray(image, dtype=np.float32)[None] / 255.0, mask
    if kind == "flux2":
        pipe = diffusers.Flux2Pipeline.from_pretrained(snapshot(hub, "flux2"))
        images = [framed(root, "grid.png", 64, 64), framed(root, "bloom.png", 64, 64)]
        return pipe(image=images, prompt=PROMPT, height=64, width=64, num_inference_steps=2, guidance_scale=4.0,
                    max_sequence_length=16, generator=seeded(), output_type="np").images, None
    pipe = diffusers.StableDiffusionImg2ImgPipeline.from_pretrained(snapshot(hub, "sd15"), safety_checker=None,
                                                                    requires_safety_checker=False)
    return pipe(prompt=PROMPT, negative_prompt="", image=framed(root, "grid.png", 64, 32), strength=0.6,
                num_inference_steps=2, guidance_scale=7.5, generator=seeded(), output_type="np").images, None


@pytest.mark.parametrize("kind", list(SHOTS))
def test_racines_frames_equal_a_direct_diffusers_call(project, seed_hub, kind):
    root, ids = project
    film = load(root, "final", models=True)
    shot = film.shots[ids[kind]]
    generator = get_generator(shot.kind)
    clip = generator.generate(shot, film)
    expected, mask = direct_call(kind, root, seed_hub)
    expected = np.asarray(expected, dtype=np.float32)
    assert clip.frames.dtype == np.float32 and clip.frames.shape == expected.shape
    assert float(np.abs(clip.frames - expected).max()) <= 1e-5
    frames = list(generator.take_frames(clip, shot, film))  # held as a still for the whole shot
    assert len(frames) == 12 and all(np.array_equal(f, frames[0]) for f in frames)
    if kind == "inpaint-t2i":  # a text-to-image UNet: diffusers blends the mask in latent space
        assert "a text-to-image UNet" in generator.provenance()["runs"][0]["inpaint_note"]
    if mask is not None:
        # outside the mask the photograph, exactly; inside it something else
        photo = np.asarray(framed(root, "grid.png", 64, 40), dtype=np.float32) / 255.0
        outside, inside = np.asarray(mask) == 0, np.asarray(mask) == 255
        assert outside.sum() > 1000 and inside.sum() > 50
        assert float(np.abs(clip.frames[0][outside] - photo[outside]).max()) == 0.0
        assert float(np.abs(clip.frames[0][inside] - photo[inside]).mean()) > 0.05


def test_inpainting_without_the_overlay_would_change_the_kept_pixels(project, seed_hub):
    """Why the photograph is pasted back: the VAE's round trip alone moves every pixel."""
    import diffusers

    root, _ = project
    pipe = diffusers.StableDiffusionInpaintPipeline.from_pretrained(
        snapshot(seed_hub, "sd15-inpaint"), safety_checker=None, requires_safety_checker=False)
    photo = framed(root, "grid.png", 64, 40)
    raw = pipe(prompt=PROMPT, image=photo, mask_image=box_mask(64, 40), height=40, width=64, num_inference_steps=2,
               generator=seeded(), output_type="np").images[0]
    outside = np.asarray(box_mask(64, 40)) == 0
    assert float(np.abs(raw[outside] - np.asarray(photo, dtype=np.float32)[outside] / 255).max()) > 0.05


def test_sd15_as_published_renders_end_to_end_without_its_safety_checker(project, seed_hub):
    root, ids = project
    index = json.loads((snapshot(seed_hub, "sd15") / "model_index.json").read_text())
    assert index["safety_checker"] == ["stable_diffusion", "StableDiffusionSafetyChecker"]
    assert index["feature_extractor"] == ["transformers", "CLIPImageProcessor"]
    assert index["tokenizer"][1] == "CLIPTokenizer" and index["scheduler"][1] == "PNDMScheduler"
    assert index["requires_safety_checker"] is True
    for kind in ("sd15", "inpaint-file"):
        result = CliRunner().invoke(main, ["--project", str(root), "render", "--profile", "final", "--shot", ids[kind]])
        assert result.exit_code == 0, result.output
        take = TakeStore(root).latest(ids[kind])
        frames = decode_frames(take.lossless, "rgb24", 64, 64)
        assert len(frames) == 12 + 2 * 8
        still = np.frombuffer(frames[0], np.uint8)
        assert still.std() > 10  # not a black frame from the checker
        run = take.manifest["generation"]["runs"][0]
        assert any("safety checker not loaded" in note for note in run["memory"])
        assert run["pipeline"] == ("StableDiffusionImg2ImgPipeline" if kind == "sd15" else
                                   "StableDiffusionInpaintPipeline")


# --- validation: masks and polygons ---------------------------------------------------------


def validate(root):
    return CliRunner().invoke(main, ["--project", str(root), "validate", "--profile", "final"])


def one_shot(tmp_path, final: str, photos=None):
    root = write_project(tmp_path / "film", {"s010": PHOTO + DRAFT + final + "\n"})
    for name, size, box in photos or []:
        make_mask(root / "shots" / "photos", size, box, name)
    return root


@pytest.mark.parametrize("mask, message, value, fix", [
    ("polygon: [[0.1, 0.1], [0.5, 0.5]]", "final.polygon: a polygon needs at least 3 points", None, "fix: add points"),
    ("polygon: [[0.1, 0.1], [0.5, 0.5], [1.5, 0.2]]", "final.polygon.2: a relative point must lie within the "
     "photograph (0 to 1)", "(got [1.5, 0.2])", "fix: give fractions of the photograph's width and height, or add "
     "polygon_units: pixels"),
    ("polygon: [[10, 10], [300, 20], [330, 150]], polygon_units: pixels", "final.polygon: the polygon leaves the "
     "320x200 photograph", "(got [330.0, 150.0])", "fix: keep x within 0..320 and y within 0..200"),
    ("polygon: [[0.1, 0.1], [0.5, 0.5], [0.9, 0.9]]", "final.polygon: the polygon encloses 0.0 pixels of the "
     "generated image: its points lie on a line", "(got [[0.1, 0.1], [0.5, 0.5], [0.9, 0.9]])",
     "fix: draw the polygon around the region"),
    ("mask: photos/black.png", "final.mask: the mask is all black: nothing would be repainted",
     "(got 'photos/black.png')", "fix: paint white where the photograph should change"),
    ("mask: photos/square.png", "final.mask: the mask is 100x100, and the photograph 320x200: another shape",
     "(got 'photos/square.png')", "fix: draw the mask on the photograph itself, at 320x200"),
    ("mask: photos/nowhere.png", "final.mask: no file at this path", "(got 'photos/nowhere.png')",
     "fix: check the spelling"),
    ("mask: ../../outside.png", "final.mask: the path leaves the project folder", None, "fix:"),
    ("mask: photos/mask.png, polygon: [[0.1, 0.1], [0.5, 0.1], [0.5, 0.5]]", "final.mask: give a mask image or a "
     "polygon, not both", None, "fix: remove one of them"),
])
def test_bad_masks_are_refused_at_validation_naming_file_line_field_value_and_fix(tmp_path, seed_hub, mask, message,
                                                                                   value, fix):
    root = one_shot(tmp_path, INPAINT % mask,
                    [("black.png", (320, 200), (0, 0, 0, 0)), ("square.png", (100, 100), (10, 10, 50, 50))])
    result = validate(root)
    assert result.exit_code == 2, result.output
    line = next(line for line in result.output.splitlines() if "final.mask" in line or "final.polygon" in line)
    assert line.startswith("shots/s010.yaml:4: ") and message in line, result.output
    assert value is None or value in line
    assert fix in result.output
    assert not (root / "renders" / "takes").exists()


def test_a_mask_is_required_and_one_of_the_photographs_aspect_is_resized(tmp_path, seed_hub):
    result = validate(one_shot(tmp_path, "final: {kind: inpaint, model: tiny-sd15-inpaint, width: 64, height: 40}"))
    assert result.exit_code == 2
    assert "shots/s010.yaml:4: final.mask: inpainting needs one mask: an image or a polygon" in result.output
    assert "fix: add mask: masks/NAME.png (white: repaint) or polygon: [[x, y], [x, y], [x, y]]" in result.output
    # half the size, the same box: resized to the photograph, the same frames as the full-size mask
    root = one_shot(tmp_path / "half", INPAINT % "mask: photos/half.png", [("half.png", (160, 100), (50, 20, 110, 80))])
    assert validate(root).exit_code == 0
    film = load(root, "final", models=True)
    from racines.generators.diffusion.inpaint import mask_for

    shot = film.shots["s010"]
    half = mask_for(shot.generator, (320, 200), 64, 40, shot.assets["mask"])
    assert np.array_equal(np.asarray(half), np.asarray(box_mask(64, 40)))


def test_a_checkpoint_that_is_not_for_inpainting_is_refused(tmp_path, seed_hub):
    folder = tmp_path / "film" / "models" / "pix2pix"
    shutil.copytree(snapshot(seed_hub, "sd15-inpaint"), folder)
    config = json.loads((folder / "unet" / "config.json").read_text())
    (folder / "unet" / "config.json").write_text(json.dumps({**config, "in_channels": 8}))
    root = one_shot(tmp_path, "final: {kind: inpaint, model: pix2pix, width: 64, height: 40, mask: photos/mask.png}")
    with open(root / "models.yaml", "a") as handle:
        handle.write("  pix2pix: {path: models/pix2pix}\n")
    result = validate(root)
    assert result.exit_code == 2
    assert "final.model: this checkpoint's UNet takes 8 input channels" in result.output
    assert "fix: name an inpainting model (sd1.5-inpainting, sdxl-inpainting)" in result.output


# --- FLUX.2 -----------------------------------------------------------------------------------


@pytest.mark.parametrize("part, change, message", [
    ("text_encoder", {"text_config": {"num_hidden_layers": 24}}, "this checkpoint's text encoder has 24 layers; "
     "Flux2Pipeline reads its hidden states 10, 20, 30"),
    ("text_encoder", {"architectures": ["Qwen3ForCausalLM"]}, "this checkpoint's text encoder is Qwen3ForCausalLM"),
    ("transformer", {"joint_attention_dim": 32}, "the transformer reads text features of 32 values, and the text "
     "encoder gives 3 x 16"),
    ("transformer", {"in_channels": 8}, "the transformer takes 8 channels and the VAE makes latents of 1"),
])
def test_flux2_checkpoints_whose_parts_do_not_fit_are_refused(tmp_path, seed_hub, part, change, message):
    folder = tmp_path / "film" / "models" / "odd-flux2"
    shutil.copytree(snapshot(seed_hub, "flux2"), folder)
    config = json.loads((folder / part / "config.json").read_text())
    for key, value in change.items():
        config[key] = {**config[key], **value} if isinstance(value, dict) else value
    (folder / part / "config.json").write_text(json.dumps(config))
    root = one_shot(tmp_path, "final: {kind: flux2, model: odd-flux2, width: 64, height: 64}")
    with open(root / "models.yaml", "a") as handle:
        handle.write("  odd-flux2: {path: models/odd-flux2}\n")
    result = validate(root)
    assert result.exit_code == 2 and "shots/s010.yaml:4: final.model: " + message in result.output, result.output


def test_flux2_needs_reference_images_of_64_pixels(tmp_path, seed_hub):
    result = validate(one_shot(tmp_path, "final: {kind: flux2, model: tiny-flux2, width: 64, height: 48}"))
    assert result.exit_code == 2
    assert "final.height: FLUX.2 takes the photograph as a reference image, which must be at least 64 pixels" \
           in result.output and "(got 48)" in result.output


def test_flux2_dev_is_listed_as_non_commercial():
    from racines.models.catalogue import BUILTIN

    assert BUILTIN["flux2-dev"].repo == "black-forest-labs/FLUX.2-dev"
    assert "Non-Commercial" in BUILTIN["flux2-dev"].licence
    assert BUILTIN["sd1.5-inpainting"].repo == "stable-diffusion-v1-5/stable-diffusion-inpainting"


def test_the_download_advice_brings_everything_flux2_loads(tmp_path, seed_hub, monkeypatch):
    """Files filtered as `hf download --include/--exclude` filters them (huggingface_hub's own
    matcher) from a full FLUX.2 folder: what is left must render. The tokenizer's chat template
    (tokenizer/chat_template.jinja), which formats the prompt as a conversation, must come along."""
    from huggingface_hub.utils import filter_repo_objects

    from racines.generators.diffusion import tiny
    from racines.models.catalogue import BUILTIN
    from racines.models.resolve import download_patterns

    include, exclude = download_patterns(BUILTIN["flux2-dev"])
    full = snapshot(seed_hub, "flux2")
    files = [p.relative_to(full).as_posix() for p in full.rglob("*") if p.is_file()]
    assert "tokenizer/chat_template.jinja" in files
    kept = set(filter_repo_objects(files, allow_patterns=include, ignore_patterns=exclude or None))
    assert "tokenizer/chat_template.jinja" in kept
    hub = tmp_path / "hub"
    commit = tiny.into_hf_cache(tiny.BUILDERS["sd1.5"](), hub, "racines-tiny/flux2")  # the cache layout
    target = hub / "models--racines-tiny--flux2" / "snapshots" / commit
    shutil.rmtree(target)
    for name in kept:
        (target / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(full / name, target / name)
    monkeypatch.setenv("HF_HUB_CACHE", str(hub))
    root = one_shot(tmp_path, "final: {kind: flux2, model: tiny-flux2, width: 64, height: 64, steps: 1, "
                              "max_sequence_length: 16}")
    film = load(root, "final", models=True)
    clip = get_generator("flux2").generate(film.shots["s010"], film)
    assert clip.frames.shape == (1, 64, 64, 3) and np.isfinite(clip.frames).all()


def test_the_mask_file_and_the_polygon_enter_the_cache_key(tmp_path, seed_hub):
    from racines.takes.cache import HashCache, key_inputs, key_of

    def key(final, box=(100, 40, 220, 160)):
        root = one_shot(tmp_path / str(len(list(tmp_path.iterdir()))), final)
        make_mask(root / "shots" / "photos", box=box)
        film = load(root, "final", models=True)
        return key_of(key_inputs(film.shots["s010"], film, get_generator("inpaint"), HashCache()))

    file_mask = INPAINT % "mask: photos/mask.png"
    assert key(file_mask) == key(file_mask)
    assert key(file_mask) != key(file_mask, box=(100, 40, 221, 160))  # one more column of white
    polygon = INPAINT % "polygon: [[0.3, 0.2], [0.7, 0.2], [0.6, 0.8]]"
    assert key(polygon) != key(polygon.replace("0.8]]", "0.81]]"))


def test_the_published_checkpoints_configs_pass_the_model_checks(tmp_path):
    """FLUX.2 [dev] and SD 1.5 inpainting as their repos describe them (configs only, no weights)."""
    from types import SimpleNamespace

    from racines.generators.diffusion.base import Plan
    from racines.generators.diffusion.flux2 import Flux2Generator, Flux2Settings
    from racines.generators.diffusion.inpaint import InpaintGenerator, InpaintSettings

    def folder(name, configs):
        for part, data in configs.items():
            (tmp_path / name / part).mkdir(parents=True)
            (tmp_path / name / part / "config.json").write_text(json.dumps(data))
        return SimpleNamespace(folder=tmp_path / name)

    flux2 = folder("flux2", {
        "transformer": {"_class_name": "Flux2Transformer2DModel", "in_channels": 128, "joint_attention_dim": 15360,
                        "num_layers": 8, "num_single_layers": 48},
        "text_encoder": {"architectures": ["Mistral3ForConditionalGeneration"],
                         "text_config": {"hidden_size": 5120, "num_hidden_layers": 40}},
        "vae": {"_class_name": "AutoencoderKLFlux2", "latent_channels": 32}})
    settings = Flux2Settings(kind="flux2")
    assert Flux2Generator().model_rejections(flux2, Plan(1024, 1024, 1, 1), settings) == []
    inpainting = folder("sd15-inpainting", {"unet": {"in_channels": 9, "out_channels": 4}})
    settings = InpaintSettings(kind="inpaint", mask="masks/face.png")
    assert InpaintGenerator().model_rejections(inpainting, Plan(512, 512, 1, 1), settings) == []
