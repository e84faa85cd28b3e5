"""Walks through prompts and seeds: the schedule (plain data, validated where it is written), the
latent-walk kind on a tiny random-weight Stable Diffusion 1.5 through racines' own loading, and
the weightless draft. CPU, 2 denoising steps at 32x32."""

from __future__ import annotations

import dataclasses
import hashlib

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from racines.cli import main
from racines.errors import ValidationFailed
from racines.generators import get_generator
from racines.generators.walk import WalkKey, schedule, slerp
from racines.pipeline import load
from racines.takes.cache import HashCache, key_inputs
from racines.takes.store import TakeStore
from tests.conftest import decode_frames, hf_cache_at, write_tiny_project

MODELS_YAML = ("models:\n  tiny-sd15: {repo: racines-tiny/walk-sd15, licence: test-only}\n"
               "  tiny-sdxl: {repo: racines-tiny/walk-sdxl, licence: test-only}\n")
FILM = "title: Walk\nframe_rate: 24\nresolution: 64x64\ncut: [s010]\n"
FACE, JASMINE = "portrait face", "jasmine flower"
WALK = f"""\
duration: 5
generator:
  kind: walk
  negative_prompt: blurry
  walk:
    - {{frame: 0, prompt: {FACE}, seed: 3}}
    - {{frame: 4, prompt: {JASMINE}, seed: 9}}
final: {{kind: latent-walk, model: tiny-sd15, width: 32, height: 32, steps: 2}}
"""


def tiny_sdxl():
    """SDXL's two text encoders (the second pooled), its text-time conditioned UNet, and an ancestral
    scheduler (noise drawn at every step from the call's generator): diffusers' test configuration."""
    from diffusers import AutoencoderKL, EulerAncestralDiscreteScheduler, StableDiffusionXLPipeline, UNet2DConditionModel

    from racines.generators.diffusion import tiny

    torch.manual_seed(0)
    unet = UNet2DConditionModel(block_out_channels=(32, 64), layers_per_block=1, sample_size=32, in_channels=4,
                                out_channels=4, down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
                                up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"), attention_head_dim=(2, 4),
                                use_linear_projection=True, addition_embed_type="text_time", addition_time_embed_dim=8,
                                transformer_layers_per_block=(1, 1), projection_class_embeddings_input_dim=80,
                                cross_attention_dim=64)
    torch.manual_seed(0)
    vae = AutoencoderKL(block_out_channels=[32, 64], in_channels=3, out_channels=3,
                        down_block_types=["DownEncoderBlock2D"] * 2, up_block_types=["UpDecoderBlock2D"] * 2,
                        latent_channels=4)
    scheduler = EulerAncestralDiscreteScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                                                steps_offset=1, timestep_spacing="leading")
    words = tiny.clip_tokenizer()
    return StableDiffusionXLPipeline(vae=vae, text_encoder=tiny.clip_text(vocab_size=len(words)), tokenizer=words,
                                     text_encoder_2=tiny.clip_text(projection=True, vocab_size=len(words)),
                                     tokenizer_2=words, unet=unet, scheduler=scheduler)


@pytest.fixture(scope="module")
def walk_hub(tmp_path_factory):
    """The tiny SD 1.5 pipeline (PNDM, CLIP tokenizer, safety checker) and a tiny SDXL in a Hugging Face cache."""
    from racines.generators.diffusion import tiny

    hub = tmp_path_factory.mktemp("walk-hub")
    tiny.into_hf_cache(tiny.sd15(), hub, "racines-tiny/walk-sd15")
    tiny.into_hf_cache(tiny_sdxl(), hub, "racines-tiny/walk-sdxl")
    with hf_cache_at(hub):
        yield hub


def project(root, shot=WALK):
    write_tiny_project(root, {"s010": shot}, FILM)
    (root / "models.yaml").write_text(MODELS_YAML)
    return root


def digests(frames) -> list[str]:
    return [hashlib.sha256(np.ascontiguousarray(frame).tobytes()).hexdigest() for frame in frames]


# --- the schedule ------------------------------------------------------------------------------


def test_schedule_mixes_prompts_linearly_slerps_seeds_and_holds_after_the_last_keyframe():
    keys = [WalkKey(frame=0, prompt="a", seed=1), WalkKey(frame=4, prompt={"b": 3.0, "c": 1.0}),
            WalkKey(frame=6, prompt="a", seed=2)]
    steps = schedule(keys, 9, seed=7)
    assert [s.t for s in steps] == [0, 0.25, 0.5, 0.75, 0, 0.5, 0, 0, 0]
    assert steps[0].prompts == {"a": 1.0} and steps[0].seeds == (1, 7)   # seed: the block's when unwritten
    assert steps[2].prompts == pytest.approx({"a": 0.5, "b": 0.375, "c": 0.125})
    assert steps[4].prompts == {"b": 0.75, "c": 0.25} and steps[5].seeds == (7, 2)
    assert steps[8].prompts == {"a": 1.0} and steps[8].seeds == (2, 2)  # held
    assert [s.nearest_seed for s in steps[:4]] == [1, 1, 7, 7]
    eased = schedule(keys, 9, seed=7, easing="ease-in-out")
    assert eased[1].t == pytest.approx(0.15625) and eased[2].t == 0.5


def test_slerp_keeps_a_gaussian_norm_and_its_ends_exactly():
    rng = np.random.default_rng(0)
    a, b = (rng.standard_normal((4, 64, 64)).astype(np.float32) for _ in range(2))
    assert slerp(0.0, a, b) is a and slerp(1.0, a, b) is b
    middle = slerp(0.5, a, b)
    assert middle.dtype == np.float32
    assert float(np.linalg.norm(middle) / np.linalg.norm(a)) == pytest.approx(1.0, abs=0.02)
    assert float(np.linalg.norm((a + b) / 2) / np.linalg.norm(a)) == pytest.approx(0.707, abs=0.02)  # lerp loses it
    assert np.array_equal(slerp(0.3, a, a), a)  # parallel: no division by a vanishing sine


@pytest.mark.parametrize("walk, field, value, words", [
    ("[{frame: 0, prompt: a, seed: 1}, {frame: 5, prompt: b}]", "generator.walk.1.frame", 5,
     ("past the shot's end", "from 0 to 4")),
    ("[{frame: 0, prompt: a}, {frame: 3, prompt: b}, {frame: 2, prompt: c}]", "generator.walk.2.frame", 2,
     ("increasing", "above 3")),
    ("[{frame: 1, prompt: a}, {frame: 3, prompt: b}]", "generator.walk.0.frame", 1, ("frame 0", "set the first")),
    ("[{frame: 0, prompt: a}]", "generator.walk", 1, ("two keyframes", "add a keyframe")),
    ("[{frame: 0, prompt: a}, {frame: 3, prompt: {b: -1}}]", "generator.walk.1.prompt.b", -1,
     ("the weight of 'b'", "greater than 0", "weights above 0")),
    ("[{frame: 0, prompt: a}, {frame: 3, prompt: {}}]", "generator.walk.1.prompt", {}, ("one text at least",)),
    ("[{frame: 0, prompt: 3}, {frame: 3, prompt: b}]", "generator.walk.0.prompt", 3, ("text, or texts with weights",)),
    ("[{frame: 0, prompt: a}, {frame: 3, prompt: b, sed: 2}]", "generator.walk.1.sed", None, ()),
])
def test_a_bad_schedule_is_located_with_file_line_field_value_and_fix(tmp_path, walk, field, value, words):
    root = project(tmp_path / "film", f"duration: 5\ngenerator:\n  kind: walk\n  walk: {walk}\n")
    result = CliRunner().invoke(main, ["--project", str(root), "validate"])
    assert result.exit_code == 2, result.output
    with pytest.raises(ValidationFailed) as caught:
        load(root, None, models=False)
    found = [p for p in caught.value.problems if p.field.startswith(field)]
    assert found, [(p.field, p.message) for p in caught.value.problems]
    problem = found[0]
    assert problem.file == "shots/s010.yaml" and problem.line == 4 and problem.fix
    if value is not None:
        assert problem.value == value
    assert all(word in problem.message + problem.fix for word in words), (problem.message, problem.fix)
    assert f"shots/s010.yaml:4: {problem.field}:" in result.output
    assert not (root / "renders" / "takes").exists()


def test_a_final_block_without_a_walk_of_its_own_or_the_drafts_is_refused(tmp_path):
    shot = "duration: 5\ngenerator: {kind: credits, heading: x}\nfinal: {kind: latent-walk, model: tiny-sd15}\n"
    root = project(tmp_path / "film", shot)
    with pytest.raises(ValidationFailed) as caught:
        load(root, None, models=False)
    (problem,) = [p for p in caught.value.problems if p.field == "final.walk"]
    assert problem.line == 3 and "needs its keyframes" in problem.message and "walk: [{frame: 0" in problem.fix


# --- the final profile: a tiny SD 1.5 ---------------------------------------------------------


def plain_call(folder, prompt, seed):
    """The keyframe as a plain diffusers script makes it: prompt text and a seeded generator."""
    from diffusers import StableDiffusionPipeline

    pipe = StableDiffusionPipeline.from_pretrained(folder, safety_checker=None, requires_safety_checker=False)
    pipe.set_progress_bar_config(disable=True)
    return pipe(prompt=prompt, negative_prompt="blurry", height=32, width=32, num_inference_steps=2,
                guidance_scale=7.5, generator=torch.Generator("cpu").manual_seed(seed), output_type="np").images[0]


def test_a_walk_is_bit_identical_twice_and_its_keyframes_are_plain_pipeline_calls(tmp_path, walk_hub):
    root = project(tmp_path / "film")
    film = load(root, "final", models=True)
    shot = film.shots["s010"]
    assert shot.generator.kind == "latent-walk" and len(shot.generator.walk) == 2  # the draft's walk, inherited
    first = get_generator("latent-walk").generate(shot, film).frames
    generator = get_generator("latent-walk")
    again = generator.generate(shot, film).frames
    assert first.shape == (5, 32, 32, 3) and first.dtype == np.float32
    assert digests(first) == digests(again)
    assert len(set(digests(first))) == 5  # every frame of the walk is its own picture
    folder = next((walk_hub / "models--racines-tiny--walk-sd15" / "snapshots").iterdir())
    # prompt_embeds= and latents= passed by racines vs prompt= and generator= in the plain call: the same
    # numbers reach the UNet (encode_prompt's output; the CPU generator's first draw), so equal exactly
    assert np.array_equal(first[0], plain_call(folder, FACE, 3))
    assert np.array_equal(first[4], plain_call(folder, JASMINE, 9))
    middle = [float(np.abs(first[i] - first[i - 1]).mean()) for i in range(1, 5)]
    assert all(change > 0 for change in middle)
    run = generator.provenance()["runs"][0]
    assert run["pipeline"] == "StableDiffusionPipeline" and run["scheduler"]["class"] == "PNDMScheduler"
    walk = run["walk"]
    assert [f["t"] for f in walk["frames"]] == [0, 0.25, 0.5, 0.75, 0]
    assert walk["frames"][2]["prompts"] == {FACE: 0.5, JASMINE: 0.5} and walk["frames"][2]["seeds"] == [3, 9]
    assert set(walk["embeddings"]) == {FACE, JASMINE}
    assert all(len(d["prompt_embeds"]) == 64 for d in walk["embeddings"].values())


def test_every_diffuses_one_frame_in_n_and_flows_between_them(tmp_path, walk_hub):
    root = project(tmp_path / "film", WALK.replace("steps: 2}", "steps: 2, every: 3}").replace("duration: 5", "duration: 7")
                   .replace("frame: 4,", "frame: 5,"))
    film = load(root, "final", models=True)
    shot = film.shots["s010"]
    generator = get_generator("latent-walk")
    sparse = generator.generate(shot, film).frames
    walk = generator.provenance()["runs"][0]["walk"]
    assert walk["diffused"] == [0, 3, 5, 6] and walk["in_between"]  # one in 3, the keyframes, the last
    full = get_generator("latent-walk").generate(
        dataclasses.replace(shot, generator=shot.generator.model_copy(update={"every": 1})), film).frames
    assert sparse.shape == full.shape == (7, 32, 32, 3)
    for frame in (0, 3, 5, 6):
        assert np.array_equal(sparse[frame], full[frame])  # the same calls
    for frame in (1, 2, 4):  # made from their neighbours, not diffused
        assert not np.array_equal(sparse[frame], full[frame])
        assert float(np.abs(sparse[frame] - full[frame]).max()) > 0


def test_sdxl_mixes_the_pooled_embeddings_too_and_an_ancestral_scheduler_draws_from_the_keyframes_seed(
        tmp_path, walk_hub):
    from diffusers import StableDiffusionXLPipeline

    root = project(tmp_path / "film", WALK.replace("tiny-sd15", "tiny-sdxl"))
    film = load(root, "final", models=True)
    generator = get_generator("latent-walk")
    frames = generator.generate(film.shots["s010"], film).frames
    assert digests(frames) == digests(get_generator("latent-walk").generate(film.shots["s010"], film).frames)
    run = generator.provenance()["runs"][0]
    assert run["pipeline"] == "StableDiffusionXLPipeline" and run["scheduler"]["class"] == "EulerAncestralDiscreteScheduler"
    assert set(run["walk"]["embeddings"][FACE]) == {"prompt_embeds", "negative_prompt_embeds", "pooled_prompt_embeds",
                                                    "negative_pooled_prompt_embeds"}
    folder = next((walk_hub / "models--racines-tiny--walk-sdxl" / "snapshots").iterdir())
    pipe = StableDiffusionXLPipeline.from_pretrained(folder)
    pipe.set_progress_bar_config(disable=True)
    for index, prompt, seed in ((0, FACE, 3), (4, JASMINE, 9)):
        plain = pipe(prompt=prompt, negative_prompt="blurry", height=32, width=32, num_inference_steps=2,
                     guidance_scale=7.5, generator=torch.Generator("cpu").manual_seed(seed), output_type="np").images[0]
        assert np.array_equal(frames[index], plain)


def test_render_final_makes_a_take_whose_manifest_keeps_the_walk(tmp_path, walk_hub):
    root = project(tmp_path / "film")
    result = CliRunner().invoke(main, ["--project", str(root), "render", "--profile", "final", "--no-master",
                                       "--shot", "s010"])
    assert result.exit_code == 0, result.output
    take = TakeStore(root).latest("s010")
    manifest = take.manifest
    assert manifest["profile"] == "final" and manifest["generator"]["name"] == "latent-walk"
    assert manifest["generator"]["models"][0].startswith("racines-tiny/walk-sd15@")
    walk = manifest["generation"]["runs"][0]["walk"]
    assert [k["seed"] for k in walk["keyframes"]] == [3, 9] and len(walk["frames"]) == 5
    assert manifest["cache_inputs"]["walk schedule"]
    raw = decode_frames(take.lossless, "rgb24", 64, 64)
    assert len(raw) == 5 + 2 * 8 and len(set(raw[8:13])) == 5  # the shot (its own frames) and held handles
    assert raw[0] == raw[8] and raw[-1] == raw[12]


def test_the_schedule_is_in_the_cache_key(tmp_path, walk_hub):
    root = project(tmp_path / "film")
    film = load(root, "final")
    generator = get_generator("latent-walk")
    before = key_inputs(film.shots["s010"], film, generator, HashCache())
    (root / "shots" / "s010.yaml").write_text(WALK.replace("seed: 9", "seed: 10"))
    film = load(root, "final")
    after = key_inputs(film.shots["s010"], film, generator, HashCache())
    assert before["walk schedule"] != after["walk schedule"] and before["profile"] == "final"
    assert before["model tiny-sd15"].startswith("racines-tiny/walk-sd15@")


# --- the draft profile ---------------------------------------------------------------------------


def test_the_draft_renders_title_cards_dissolving_over_the_seeds_noise(tmp_path):
    root = project(tmp_path / "film")
    result = CliRunner().invoke(main, ["--project", str(root), "render", "--no-master", "--shot", "s010"])
    assert result.exit_code == 0, result.output
    take = TakeStore(root).latest("s010")
    assert take.manifest["generator"]["name"] == "walk" and take.manifest["profile"] == "draft"
    raw = decode_frames(take.lossless, "rgb24", 64, 64)
    assert len(raw) == 5 + 2 * 8  # the shot and its handles
    frames = [np.frombuffer(f, np.uint8).reshape(64, 64, 3) for f in raw[8:13]]
    film = load(root, None)
    drawn = list(get_generator("walk").frames(film.shots["s010"], film))
    assert all(np.array_equal(a, b) for a, b in zip(frames, drawn))  # lossless: the frames as drawn
    assert len(set(digests(frames))) == 5
    # a dissolve: the middle frame lies between the two keyframes' cards, pixel by pixel (up to rounding)
    first, middle, last = (f.astype(int) for f in (frames[0], frames[2], frames[4]))
    low, high = np.minimum(first, last), np.maximum(first, last)
    text = (high - low) > 60   # where a card's text stands out
    text[40:] = False          # below the cards: each frame's own caption (frame, t, seeds) and the time line
    assert text.sum() > 20 and np.all(middle[text] >= low[text] - 40) and np.all(middle[text] <= high[text] + 40)
