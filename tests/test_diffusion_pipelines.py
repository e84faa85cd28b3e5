"""Diffusion generators on tiny random-weight models, through racines' own model loading.

Each family: the shot's final: block names a model registered in models.yaml (a repo in a
Hugging Face cache layout); racines' float frames must equal a direct diffusers call on the
same folder with the same inputs and seed (<= 1e-5 before quantisation). 2 steps, on the CPU.
"""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

from racines.cli import main
from racines.film.images import fit, load_rgb
from racines.generators import get_generator
from racines.pipeline import cut_take, load
from racines.takes.cache import HashCache
from racines.takes.store import TakeStore
from tests.conftest import decode_frames, tree_digest, write_diffusion_project

PHOTO = "source: {photo: photos/grid.png, contributor: Amina, consent: granted}\n"
DRAFT = "generator: {kind: morph, prompt: her scarf into jasmine flowers, seed: 3, target: photos/bloom.png}\n"
TINY_TEXT = "max_sequence_length: 16, steps: 2"

SHOTS = {
    "svd": "final: {kind: svd, model: tiny-svd, width: 32, height: 32, num_frames: 14, steps: 2}",
    "wan-i2v": f"final: {{kind: wan-i2v, model: tiny-wan, width: 16, height: 16, num_frames: 9, {TINY_TEXT}}}",
    "wan-flf2v": f"final: {{kind: wan-flf2v, model: tiny-wan-flf, width: 16, height: 16, num_frames: 9, {TINY_TEXT}}}",
    "ltx": f"final: {{kind: ltx, model: tiny-ltx, width: 32, height: 32, num_frames: 9, {TINY_TEXT}}}",
    "cogvideox": f"final: {{kind: cogvideox, model: tiny-cog, width: 16, height: 16, num_frames: 9, {TINY_TEXT}}}",
    "keyframe": "final: {kind: keyframe, model: tiny-sd, width: 32, height: 32, steps: 2, strength: 0.6}",
    "kontext": f"final: {{kind: keyframe, model: tiny-kontext, width: 32, height: 32, {TINY_TEXT}}}",
}


def shot_text(final: str, frames: int = 12) -> str:
    return PHOTO + f"duration: {frames}\n" + DRAFT + final + "\n"


@pytest.fixture
def project(tmp_path, tiny_hub):
    ids = {name: f"s{index:02d}0" for index, name in enumerate(SHOTS, 1)}
    root = write_diffusion_project(tmp_path / "film", {ids[n]: shot_text(SHOTS[n]) for n in SHOTS})
    return root, ids


def image(root, name, width, height):
    return Image.fromarray(fit(load_rgb(root / "shots" / "photos" / name), width, height, "cover"))


def seeded(seed=3):
    return torch.Generator("cpu").manual_seed(seed)


def direct_call(kind, root, folder):
    """The same generation written as a plain diffusers script would write it."""
    import diffusers
    from diffusers.pipelines.ltx.pipeline_ltx_condition import LTXVideoCondition

    prompt, photo = "her scarf into jasmine flowers", "grid.png"
    text = dict(prompt=prompt, negative_prompt="", max_sequence_length=16, num_inference_steps=2)
    if kind == "svd":
        pipe = diffusers.StableVideoDiffusionPipeline.from_pretrained(folder)
        return pipe(image(root, photo, 32, 32), height=32, width=32, num_frames=14, num_inference_steps=2,
                    min_guidance_scale=1.0, max_guidance_scale=3.0, fps=7, motion_bucket_id=127,
                    noise_aug_strength=0.02, generator=seeded(), output_type="np").frames[0]
    if kind in ("wan-i2v", "wan-flf2v"):
        pipe = diffusers.WanImageToVideoPipeline.from_pretrained(folder)
        pipe.scheduler = type(pipe.scheduler).from_config(pipe.scheduler.config, shift=3.0)  # Wan's at 480p or less
        last = {"last_image": image(root, "bloom.png", 16, 16)} if kind == "wan-flf2v" else {}
        return pipe(image=image(root, photo, 16, 16), height=16, width=16, num_frames=9, guidance_scale=5.0,
                    generator=seeded(), output_type="np", **text, **last).frames[0]
    if kind == "ltx":
        pipe = diffusers.LTXConditionPipeline.from_pretrained(folder)
        conditions = [LTXVideoCondition(image=image(root, photo, 32, 32), frame_index=0),   # the target is
                      LTXVideoCondition(image=image(root, "bloom.png", 32, 32), frame_index=8)]  # the morph's
        return pipe(conditions=conditions, height=32, width=32, num_frames=9, frame_rate=24, guidance_scale=3.0,
                    decode_timestep=0.05, decode_noise_scale=0.025, image_cond_noise_scale=0.15,
                    generator=seeded(), output_type="np",
                    **text).frames[0]
    if kind == "cogvideox":
        pipe = diffusers.CogVideoXImageToVideoPipeline.from_pretrained(folder)
        return pipe(image=image(root, photo, 16, 16), height=16, width=16, num_frames=9, guidance_scale=6.0,
                    use_dynamic_cfg=False, generator=seeded(), output_type="np", **text).frames[0]
    if kind == "keyframe":
        pipe = diffusers.StableDiffusionImg2ImgPipeline.from_pretrained(folder)
        return pipe(prompt=prompt, negative_prompt="", image=image(root, photo, 32, 32), strength=0.6,
                    num_inference_steps=2, guidance_scale=7.5, generator=seeded(), output_type="np").images
    pipe = diffusers.FluxKontextPipeline.from_pretrained(folder)
    return pipe(image=image(root, photo, 32, 32), prompt=prompt, height=32, width=32, num_inference_steps=2,
                guidance_scale=2.5, max_sequence_length=16, max_area=32 * 32, _auto_resize=False, generator=seeded(),
                output_type="np").images


FOLDERS = {"svd": "svd", "wan-i2v": "wan-i2v", "wan-flf2v": "wan-flf2v", "ltx": "ltx", "cogvideox": "cogvideox",
           "keyframe": "sd", "kontext": "flux-kontext"}


@pytest.mark.parametrize("kind", list(SHOTS))
def test_racines_frames_equal_a_direct_diffusers_call(project, tiny_hub, kind):
    root, ids = project
    film = load(root, "final", models=True)
    shot = film.shots[ids[kind]]
    generator = get_generator(shot.kind)
    clip = generator.generate(shot, film)
    folder = next((tiny_hub / f"models--racines-tiny--{FOLDERS[kind]}" / "snapshots").iterdir())
    expected = np.asarray(direct_call(kind, root, folder), dtype=np.float32)
    assert clip.frames.dtype == np.float32 and clip.frames.shape == expected.shape
    assert float(np.abs(clip.frames - expected).max()) <= 1e-5
    frames = list(generator.take_frames(clip, shot, film))  # the shot's count at the film's size
    assert len(frames) == shot.frames and all(f.shape == (64, 64, 3) and f.dtype == np.uint8 for f in frames)


def test_a_seed_gives_the_same_frames_and_another_seed_others(project):
    root, ids = project
    film = load(root, "final")
    shot = film.shots[ids["ltx"]]
    first = get_generator("ltx").generate(shot, film).frames
    again = get_generator("ltx").generate(shot, film).frames
    assert np.array_equal(first, again)
    other = dataclasses.replace(shot, generator=shot.generator.model_copy(update={"seed": 4}))
    assert np.abs(get_generator("ltx").generate(other, film).frames - first).max() > 1e-3


def test_render_final_makes_a_take_of_the_shot_and_film_size(project):
    root, ids = project
    shot_id = ids["wan-flf2v"]
    result = CliRunner().invoke(main, ["--project", str(root), "render", "--profile", "final", "--shot", shot_id])
    assert result.exit_code == 0, result.output
    take = TakeStore(root).latest(shot_id)
    assert len(decode_frames(take.lossless, "rgb24", 64, 64)) == 12 + 2 * 8  # the shot and its handles
    manifest = take.manifest
    assert manifest["profile"] == "final" and manifest["generator"]["name"] == "wan-flf2v"
    source = manifest["generator"]["models"][0]
    assert source.startswith("racines-tiny/wan-flf2v@") and len(source.split("@")[1]) == 40
    inputs = manifest["cache_inputs"]
    assert inputs["profile"] == "final" and inputs["model tiny-wan-flf"] == source
    generation = manifest["generation"]
    assert generation["runs"][0]["device"] == "cpu" and generation["runs"][0]["dtype"] == "float32"
    assert generation["retime"] == {"model_frames": 9, "model_fps": "16", "take_frames": 12, "film_fps": "24",
                                    "speed": pytest.approx(12 / 11, abs=1e-4)}
    # the same shot at the draft profile is another take; back at final, the final take is reused
    assert CliRunner().invoke(main, ["--project", str(root), "render", "--shot", shot_id]).exit_code == 0
    again = CliRunner().invoke(main, ["--project", str(root), "render", "--profile", "final", "--shot", shot_id])
    assert "(unchanged)" in again.output and [t.version for t in TakeStore(root).takes(shot_id)] == ["v001", "v002"]
    # and each profile's run cuts with its own take (none is approved)
    for profile, version in (("final", "v001"), (None, "v002")):
        film = load(root, profile)
        assert cut_take(film, TakeStore(root), HashCache(), film.shots[shot_id]).version == version


def test_keyframe_target_and_prompt_enhancement_are_kept_in_the_manifest(tmp_path, tiny_hub):
    final = ("final: {kind: ltx, model: tiny-ltx, width: 32, height: 32, num_frames: 9, max_sequence_length: 16, "
             "steps: 2, enhance_prompt: tiny-lm, target: {model: tiny-sd, prompt: a portrait of jasmine flowers, "
             "steps: 2, strength: 0.6}}")
    root = write_diffusion_project(tmp_path / "film", {"s010": shot_text(final, 9)})
    result = CliRunner().invoke(main, ["--project", str(root), "render", "--profile", "final", "--shot", "s010"])
    assert result.exit_code == 0, result.output
    generation = TakeStore(root).latest("s010").manifest["generation"]
    run = generation["runs"][0]
    assert run["prompt"] == "her scarf into jasmine flowers" and run["prompt_enhanced"]
    assert run["prompt_enhanced"] != run["prompt"] and run["prompt_enhancer"].startswith("racines-tiny/lm@")
    keyframe = generation["keyframe"]["runs"][0]
    assert keyframe["pipeline"] == "StableDiffusionImg2ImgPipeline" and keyframe["model"].startswith("racines-tiny/sd@")
    assert keyframe["prompt"] == "a portrait of jasmine flowers"
    printed = CliRunner().invoke(main, ["--project", str(root), "provenance", "s010"]).output
    assert "(profile final)" in printed and f"  enhanced   {run['prompt_enhanced']}" in printed
    assert "model        racines-tiny/ltx@" in printed and "(LTXConditionPipeline, cpu float32)" in printed


def test_out_of_memory_is_retried_once_in_a_lower_memory_mode(project, monkeypatch):
    from racines.generators.diffusion import runtime

    root, ids = project
    film = load(root, "final")
    shot = film.shots[ids["ltx"]]
    runtime.release()  # an earlier test's pipeline would be reused: this one starts with a load
    calls = []
    real_run = runtime.run_with_retry

    def flaky(call, lower):
        def once():
            calls.append(1)
            if len(calls) == 1:
                raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB")
            return call()
        return real_run(once, lower)

    monkeypatch.setattr(runtime, "run_with_retry", flaky)
    generator = get_generator("ltx")
    clip = generator.generate(shot, film)
    assert len(calls) == 2 and clip.frames.shape == (9, 32, 32, 3)
    memory = generator.provenance()["runs"][0]["memory"]
    assert memory[0].startswith("loaded in ")  # the pipeline's load, then what the retry changed
    assert memory[1:] == ["out of memory: retried with VAE tiling"]  # no CUDA here: no offload


def test_a_failing_shot_is_recorded_and_the_others_are_made(project, monkeypatch):
    root, ids = project
    store = TakeStore(root)
    wan_id, ltx_id = ids["wan-i2v"], ids["ltx"]
    from racines.generators.diffusion.wan import WanI2VGenerator

    def broken(self, settings, plan, images, prompt, negative):
        raise RuntimeError("the GPU caught fire")

    monkeypatch.setattr(WanI2VGenerator, "call_kwargs", broken)
    result = CliRunner().invoke(main, ["--project", str(root), "render", "--profile", "final",
                                       "--shot", wan_id, "--shot", ltx_id])
    assert result.exit_code == 3, result.output
    assert f"{wan_id}: shots/{wan_id}.yaml: wan-i2v with model 'tiny-wan' failed" in result.output
    assert "caught fire" in store.failure(wan_id)["error"] and store.takes(wan_id) == []
    assert [t.version for t in store.takes(ltx_id)] == ["v001"]
    before = tree_digest(root / "renders" / "takes" / ltx_id)
    status = CliRunner().invoke(main, ["--project", str(root), "status", "--profile", "final"])
    assert f"{wan_id}" in status.output and "failed" in status.output and "caught fire" in status.output
    assert tree_digest(root / "renders" / "takes" / ltx_id) == before


def test_lora_adapters_load_by_path_with_a_scale(tmp_path, tiny_hub):
    from peft import LoraConfig, get_peft_model_state_dict

    from racines.generators.diffusion import tiny

    pipe = tiny.sd()
    torch.manual_seed(1)
    pipe.unet.add_adapter(LoraConfig(r=4, lora_alpha=4, init_lora_weights=False,
                                     target_modules=["to_q", "to_k", "to_v", "to_out.0"]))
    root = tmp_path / "film"
    (root / "loras").mkdir(parents=True)
    type(pipe).save_lora_weights(root / "loras", unet_lora_layers=get_peft_model_state_dict(pipe.unet),
                                 weight_name="petals.safetensors")
    final = "final: {kind: keyframe, model: tiny-sd, width: 32, height: 32, steps: 2, strength: 0.6%s}"
    shots = {"s010": shot_text(final % ""), "s020": shot_text(final % ", lora: [{path: ../loras/petals.safetensors, "
                                                                       "scale: 0.8}]"),
             "s030": shot_text(final % ", lora: [{path: ../loras/petals.safetensors, scale: 0.0}]")}
    write_diffusion_project(root, shots)
    film = load(root, "final", models=True)
    plain, lora, off = (get_generator("keyframe").generate(film.shots[s], film).frames for s in ("s010", "s020", "s030"))
    assert np.abs(lora - plain).max() > 1e-3
    assert np.abs(off - plain).max() <= 1e-5
    from racines.takes.cache import HashCache, key_inputs

    inputs = key_inputs(film.shots["s020"], film, get_generator("keyframe"), HashCache())
    assert len(inputs["lora ../loras/petals.safetensors"]) == 64
    assert inputs["generator.lora"] == [{"path": "../loras/petals.safetensors", "scale": 0.8}]


def test_manifest_json_is_complete(project):
    root, ids = project
    assert CliRunner().invoke(main, ["--project", str(root), "render", "--profile", "final",
                                     "--shot", ids["keyframe"]]).exit_code == 0
    manifest = json.loads((TakeStore(root).latest(ids["keyframe"]).folder / "manifest.json").read_text())
    assert manifest["generator"]["description"].startswith("racines keyframe 1 with racines-tiny/sd")
    assert manifest["software"]["diffusers"] and manifest["software"]["transformers"]


def test_svd_lowers_memory_by_chunked_decode_and_offload_is_guarded_without_cuda():
    from types import SimpleNamespace

    from racines.generators.diffusion import runtime
    from racines.generators.diffusion.svd import SvdGenerator

    chunked = []

    def no_tiling():
        raise NotImplementedError("AutoencoderKLTemporalDecoder has no tiling")

    def refuse_offload():
        raise RuntimeError("enable_model_cpu_offload requires accelerator, but not found")

    pipe = SimpleNamespace(unet=SimpleNamespace(enable_forward_chunking=lambda: chunked.append(True)),
                           vae=SimpleNamespace(enable_tiling=no_tiling), enable_model_cpu_offload=refuse_offload,
                           to=lambda device: None)
    kwargs = {"decode_chunk_size": None}
    loading = SimpleNamespace(offload="none", device="cpu")
    assert SvdGenerator().lower_memory(pipe, kwargs, loading) == ["decode_chunk_size 1", "UNet forward chunking"]
    assert kwargs["decode_chunk_size"] == 1 and chunked == [True]
    assert runtime.place(pipe, "cpu", "model") == [
        "model offload skipped: it needs a CUDA GPU (diffusers raises without one)"]


def test_a_checkpoint_adds_its_own_shape_rules(tmp_path, tiny_hub):
    # the tiny SVD UNet has 2 blocks: sides divisible by 16 (the real one: 64)
    final = "final: {kind: svd, model: tiny-svd, width: 40, height: 32, num_frames: 14, steps: 2}"
    root = write_diffusion_project(tmp_path / "film", {"s010": shot_text(final)})
    result = CliRunner().invoke(main, ["--project", str(root), "render", "--profile", "final"])
    assert result.exit_code == 2 and not (root / "renders").exists()
    assert "shots/s010.yaml:4: final.width: this checkpoint's UNet needs sides divisible by 16 (got 40)" in \
        result.output and "fix: use 32 or 48" in result.output
