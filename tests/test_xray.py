"""The X-ray: a strip of the latents every N steps, for each diffusion family with step callbacks, on
tiny random-weight pipelines. The strip has a tile per kept step, the take's pixels do not change,
and the callback costs at most 5 % of the generation (its own measured time against the run's)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from racines.cli import main
from racines.generators import get_generator
from racines.generators.diffusion.xray import GAP, STRIP_NAME, XRay, to_rgb
from racines.pipeline import load
from racines.takes.store import TakeStore
from tests.conftest import write_diffusion_project

PHOTO = "source: {photo: photos/grid.png, contributor: Amina, consent: granted}\nduration: 12\n"
DRAFT = "generator: {kind: morph, prompt: her scarf into jasmine flowers, seed: 3, target: photos/bloom.png}\n"
TEXT = "max_sequence_length: 16"
XRAY = "xray: {every: 2}"
STEPS = 5  # tiles at steps 2, 4 and the last: 3
SHOTS = {
    "svd": f"{{kind: svd, model: tiny-svd, width: 32, height: 32, num_frames: 14, steps: {STEPS}, {XRAY}}}",
    "wan-i2v": f"{{kind: wan-i2v, model: tiny-wan, width: 16, height: 16, num_frames: 9, steps: {STEPS}, {TEXT}, {XRAY}}}",
    "ltx": f"{{kind: ltx, model: tiny-ltx, width: 32, height: 32, num_frames: 9, steps: {STEPS}, {TEXT}, {XRAY}}}",
    "cogvideox": f"{{kind: cogvideox, model: tiny-cog, width: 16, height: 16, num_frames: 9, steps: {STEPS}, {TEXT}, "
                 f"{XRAY}}}",
    "keyframe": f"{{kind: keyframe, model: tiny-sd, width: 32, height: 32, steps: {STEPS}, strength: 1.0, {XRAY}}}",
    "kontext": f"{{kind: keyframe, model: tiny-kontext, width: 32, height: 32, steps: {STEPS}, {TEXT}, {XRAY}}}",
}


@pytest.fixture(scope="module")
def project(tmp_path_factory, tiny_hub):
    ids = {kind: f"s{index:02d}0" for index, kind in enumerate(SHOTS, 1)}
    root = write_diffusion_project(tmp_path_factory.mktemp("xray") / "film",
                                   {ids[k]: PHOTO + DRAFT + f"final: {SHOTS[k]}\n" for k in SHOTS})
    return root, ids


def tiles_in(strip: Image.Image, tile_width: int) -> int:
    return (strip.width + GAP) // (tile_width + GAP)


@pytest.mark.parametrize("kind", list(SHOTS))
def test_strip_of_each_family_and_what_it_costs(project, kind):
    root, ids = project
    film = load(root, "final", models=True)
    shot = film.shots[ids[kind]]
    generator = get_generator(shot.kind)
    generator.generate(shot, film)  # loads the pipeline: the timed runs below reuse it
    ratios = []
    for _ in range(3):
        frames = generator.generate(shot, film).frames
        run = generator.report["runs"][-1]
        ratios.append(run["xray"]["callback_s"] / run["denoise_and_decode_s"])
    xray = run["xray"]
    assert xray["tiles"] == 3 and [s["step"] for s in xray["per_step"]] == [1, 3, 4]
    assert xray["steps"] == STEPS and xray["every"] == 2
    strip = generator.artefacts()[STRIP_NAME]
    assert strip.height >= 32 and tiles_in(strip, _tile_width(strip)) == 3
    assert min(ratios) <= 0.05, ratios  # the callback's own time against the run's, best of three
    # the take's pixels are those of the same generation without the X-ray
    plain = dataclasses.replace(shot, generator=shot.generator.model_copy(update={"xray": None}))
    assert np.array_equal(get_generator(shot.kind).generate(plain, film).frames, frames)


def _tile_width(strip: Image.Image) -> int:
    """The first tile's width: the first column of the gap colour that runs the strip's whole height."""
    pixels = np.asarray(strip)
    gap = np.all(pixels == (16, 16, 16), axis=(0, 2))
    return int(np.argmax(gap)) if gap.any() else strip.width


def test_linear_preview_uses_the_documented_factors():
    import torch

    latent = torch.zeros(4, 2, 2)
    latent[0] = 1.0  # channel 0 alone: SD 1.x factors row 0 mapped from [-1, 1] to [0, 255]
    rgb, method = to_rgb(latent, "StableDiffusionPipeline")
    assert method == "linear SD 1.x factors"
    assert rgb[0, 0].tolist() == [round((v + 1) / 2 * 255) for v in (0.3512, 0.2297, 0.3227)]
    rgb, method = to_rgb(torch.randn(7, 3, 5), "SomeOtherPipeline")
    assert method == "channel-groups" and rgb.shape == (3, 5, 3) and rgb.min() == 0 and rgb.max() == 255


def test_callback_returns_the_tensors_untouched_and_keeps_the_wanted_steps():
    import torch

    class Pipe:  # a Wan-shaped latent, as WanImageToVideoPipeline hands it over
        pass

    Pipe.__name__ = "WanImageToVideoPipeline"
    xray = XRay(every=3, steps=7, width=16, height=16, frames=9)
    for step in range(7):
        tensors = {"latents": torch.randn(1, 16, 3, 2, 2)}
        assert xray(Pipe(), step, 1000 - step, tensors) is tensors
    assert [s["step"] for s in xray.stats] == [2, 5, 6] and xray.method == "linear Wan 2.1 factors"


def test_a_take_keeps_its_strip(project):
    root, ids = project
    result = CliRunner().invoke(main, ["--project", str(root), "render", "--profile", "final", "--shot",
                                       ids["wan-i2v"]])
    assert result.exit_code == 0, result.output
    take = TakeStore(root).latest(ids["wan-i2v"])
    assert take.manifest["media"]["artefacts"] == [STRIP_NAME]
    with Image.open(take.folder / STRIP_NAME) as strip:
        assert strip.format == "PNG" and tiles_in(strip, _tile_width(strip)) == 3
    assert take.manifest["cache_inputs"]["xray"] == {"every": 2}
    shown = CliRunner().invoke(main, ["--project", str(root), "provenance", ids["wan-i2v"], "--apparatus",
                                      "--profile", "final"])
    assert "x-ray        3 states, every 2 of 5 steps" in shown.output, shown.output


def test_latent_walk_card_and_strip(tmp_path, monkeypatch):
    """The walk's own loop: a card with each keyframe prompt's token report (a real CLIP BPE tokenizer,
    BOS and EOS included), and the strip of its first diffused frame."""
    from racines.generators.diffusion import tiny
    from tests.conftest import write_tiny_project

    hub = tmp_path / "hub"
    tiny.into_hf_cache(tiny.sd15(), hub, "racines-tiny/walk-sd15")
    monkeypatch.setenv("HF_HUB_CACHE", str(hub))
    words = (tiny.WORDS[3:] * 4)[:90]
    shot = (f"duration: 5\ngenerator:\n  kind: walk\n  walk:\n    - {{frame: 0, prompt: {' '.join(words)}, seed: 3}}\n"
            "    - {frame: 4, prompt: jasmine flower, seed: 9}\n"
            "final: {kind: latent-walk, model: tiny-sd15, width: 32, height: 32, steps: 3, xray: {every: 1}}\n")
    root = write_tiny_project(tmp_path / "film", {"s010": shot}, "title: Walk\nframe_rate: 24\nresolution: 64x64\n"
                              "cut: [s010]\n")
    (root / "models.yaml").write_text("models:\n  tiny-sd15: {repo: racines-tiny/walk-sd15, licence: test-only}\n")
    film = load(root, "final", models=True)
    generator = get_generator("latent-walk")
    generator.generate(film.shots["s010"], film)
    (run,) = generator.apparatus()["runs"]
    assert [m["role"] for m in run["chain"]] == ["text encoder", "denoiser", "VAE", "scheduler"]
    (long_report,) = run["prompt"]["keyframes"][" ".join(words)]
    # BPE splits some words: 111 tokens + BOS + EOS, of which the encoder read 75 + BOS + EOS
    assert long_report["window"] == 77 and long_report["tokens"] == 113 and long_report["truncated"] == 36
    assert long_report["received"].split() + long_report["lost_text"].split() == words
    assert long_report["lost_tokens"][:3] == ["an</w>", "the</w>", "of</w>"]
    assert run["prompt"]["keyframes"]["jasmine flower"][0]["truncated"] == 0
    xray = generator.report["xray"]  # PNDM runs 4 steps when asked for 3 (its PLMS warm-up): a tile for each
    assert xray["steps"] == 4 and xray["tiles"] == 4 and xray["frame"] == 0
    strip = generator.artefacts()[STRIP_NAME]
    assert tiles_in(strip, _tile_width(strip)) == 4
