"""The final profile's defects that show without a GPU: real model_index.json / config.json files
in tiny folders, tiny random-weight models, and a monkeypatched device where one matters."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from racines.models.resolve import resolve
from racines.models.safety import ModelRefused, check_pipeline_folder
from tests.test_diffusion_validation import fake_pipeline, problems, project

SD_INDEX = {"feature_extractor": ["transformers", "CLIPImageProcessor"],
            "safety_checker": ["stable_diffusion", "StableDiffusionSafetyChecker"],
            "scheduler": ["diffusers", "PNDMScheduler"], "text_encoder": ["transformers", "CLIPTextModel"],
            "tokenizer": ["transformers", "CLIPTokenizer"], "unet": ["diffusers", "UNet2DConditionModel"],
            "vae": ["diffusers", "AutoencoderKL"]}


def config(folder: Path, name: str, data: dict) -> None:
    (folder / name).mkdir(parents=True, exist_ok=True)
    (folder / name / "config.json").write_text(json.dumps(data))
    (folder / name / "diffusion_pytorch_model.safetensors").write_bytes(b"")


# --- 1. Stable Diffusion 1.x/2.x: the safety checker is diffusers' own code -------------------


def test_stable_diffusion_index_with_its_safety_checker_is_accepted(tmp_path):
    folder = fake_pipeline(tmp_path / "sd15", "StableDiffusionPipeline", SD_INDEX)
    assert check_pipeline_folder(folder) == "StableDiffusionPipeline"
    odd = fake_pipeline(tmp_path / "odd", "StableDiffusionPipeline",
                        {**SD_INDEX, "safety_checker": ["my_checker", "Checker"]})
    with pytest.raises(ModelRefused, match="custom code"):
        check_pipeline_folder(odd)
    for name in ("..", "os", "stable_diffusion.x", "Stable_Diffusion"):
        with pytest.raises(ModelRefused):
            check_pipeline_folder(fake_pipeline(tmp_path / "n", "StableDiffusionPipeline",
                                                {"safety_checker": [name, "X"]}))


def tiny_sd_with_checker():
    from diffusers.pipelines.stable_diffusion.safety_checker import StableDiffusionSafetyChecker
    from transformers import CLIPConfig, CLIPImageProcessor

    from racines.generators.diffusion import tiny

    pipe = tiny.sd()
    torch.manual_seed(0)
    checker = StableDiffusionSafetyChecker(CLIPConfig(
        text_config=dict(hidden_size=16, intermediate_size=16, num_hidden_layers=1, num_attention_heads=2),
        vision_config=dict(hidden_size=16, intermediate_size=16, num_hidden_layers=1, num_attention_heads=2,
                           image_size=32, patch_size=16), projection_dim=16))
    pipe.register_modules(safety_checker=checker, feature_extractor=CLIPImageProcessor(crop_size=32, size=32))
    pipe.register_to_config(requires_safety_checker=True)
    return pipe


def test_stable_diffusion_loads_without_the_checker_that_blacks_out_frames(tmp_path):
    from racines.film.schema import ModelEntry
    from racines.generators.diffusion import runtime, tiny

    folder = tiny.save(tiny_sd_with_checker(), tmp_path / "sd")
    assert json.loads((folder / "model_index.json").read_text())["safety_checker"][0] == "stable_diffusion"
    model = resolve("sd", ModelEntry(path="sd"), tmp_path)
    loaded = runtime.load(runtime.Loading("StableDiffusionImg2ImgPipeline", model, torch.float32, "cpu"))
    try:
        assert loaded.pipe.safety_checker is None
        assert any("safety checker not loaded" in note for note in loaded.notes)
    finally:
        runtime.release()


# --- 2. a Wan checkpoint of the wrong kind is refused at validation -----------------------------

I2V = {"in_channels": 36, "out_channels": 16, "image_dim": 1280, "patch_size": [1, 2, 2]}
FLF = {**I2V, "pos_embed_seq_len": 514}
T2V = {"in_channels": 16, "out_channels": 16, "image_dim": None, "patch_size": [1, 2, 2]}
TI2V = {"in_channels": 48, "out_channels": 48, "image_dim": None, "patch_size": [1, 2, 2]}
A14B = {**I2V, "image_dim": None}


def wan_folder(root: Path, transformer: dict, index: dict | None = None, vae: dict | None = None,
               class_name: str = "WanImageToVideoPipeline") -> None:
    folder = fake_pipeline(root / "models" / "w", class_name, {"transformer": ["diffusers", "WanTransformer3DModel"],
                                                               "vae": ["diffusers", "AutoencoderKLWan"], **(index or {})})
    config(folder, "transformer", transformer)
    config(folder, "vae", vae or {"z_dim": 16})


@pytest.mark.parametrize("final, transformer, index, vae, field, words", [
    ("{kind: wan-flf2v}", I2V, None, None, "final.model", "image-to-video Wan checkpoint; wan-flf2v"),
    ("{kind: wan-i2v}", FLF, None, None, "final.model", "first+last frame Wan checkpoint; wan-i2v"),
    ("{kind: wan-i2v}", T2V, None, None, "final.model", "text-to-video"),
    ("{kind: wan-flf2v}", T2V, None, None, "final.model", "text-to-video"),
    ("{kind: wan-i2v, guidance_2: 3.0}", I2V, None, None, "final.guidance_2", "no transformer_2"),
    ("{kind: wan-i2v, width: 848, height: 480}", TI2V, {"expand_timesteps": True},
     {"z_dim": 48, "scale_factor_spatial": 16}, "final.width", "divisible by 32"),
])
def test_a_wan_checkpoint_of_the_wrong_kind_is_refused_at_validation(tmp_path, empty_hub, final, transformer, index,
                                                                     vae, field, words):
    name = "models:\n  w: {path: models/w}\n"
    root = project(tmp_path, f"final: {final[:-1]}, model: w}}", models=name)
    wan_folder(root, transformer, index, vae)
    found = [p for p in problems(root, "final") if p.field == field]
    assert len(found) == 1 and words in found[0].message, [(p.field, p.message) for p in problems(root, "final")]
    assert found[0].file == "shots/s020.yaml" and found[0].line == 4 and found[0].fix


@pytest.mark.parametrize("final, transformer, index, vae", [
    ("{kind: wan-flf2v}", FLF, None, None),
    ("{kind: wan-i2v}", I2V, None, None),
    ("{kind: wan-i2v, guidance_2: 3.0}", A14B, {"transformer_2": ["diffusers", "WanTransformer3DModel"],
                                                "boundary_ratio": 0.9}, None),
    ("{kind: wan-i2v, width: 1280, height: 704}", TI2V, {"expand_timesteps": True},
     {"z_dim": 48, "scale_factor_spatial": 16}),
])
def test_a_wan_checkpoint_of_the_right_kind_is_accepted(tmp_path, empty_hub, final, transformer, index, vae):
    from racines.pipeline import load

    name = "models:\n  w: {path: models/w}\n"
    root = project(tmp_path, f"final: {final[:-1]}, model: w}}", models=name)
    wan_folder(root, transformer, index, vae)
    if index and "transformer_2" in index:
        config(root / "models" / "w", "transformer_2", transformer)
    load(root, "final", models=True)


# --- 3. CogVideoX-5b-I2V renders only its trained frame count -----------------------------------


def cog_project(tmp_path, final: str) -> Path:
    root = project(tmp_path, f"final: {final}", models="models:\n  c: {path: models/c}\n")
    folder = fake_pipeline(root / "models" / "c", "CogVideoXImageToVideoPipeline",
                           {"transformer": ["diffusers", "CogVideoXTransformer3DModel"],
                            "vae": ["diffusers", "AutoencoderKLCogVideoX"]})
    config(folder, "transformer", {"use_learned_positional_embeddings": True, "sample_width": 90,
                                   "sample_height": 60, "sample_frames": 49})
    config(folder, "vae", {"block_out_channels": [128, 256, 256, 512]})
    return root


def test_cogvideox_learned_embeddings_need_the_trained_frame_count(tmp_path, empty_hub):
    from racines.generators import get_generator
    from racines.pipeline import load

    root = cog_project(tmp_path, "{kind: cogvideox, model: c, num_frames: 17}")
    (problem,) = [p for p in problems(root, "final") if p.field == "final.num_frames"]
    assert problem.value == 17 and "only 49 frames" in problem.message and "num_frames: 49" in problem.fix
    # left out, the count is the trained one (the clip is then retimed to the 24-frame shot)
    root = cog_project(tmp_path / "b", "{kind: cogvideox, model: c}")
    film = load(root, "final", models=True)
    shot = film.shots["s020"]
    assert get_generator("cogvideox").plan(shot.generator, shot, film).num_frames == 49


# --- 4. non-finite frames are refused, not written as black ---------------------------------------


def test_non_finite_frames_fail_the_shot_naming_it_and_the_step(tmp_path, tiny_hub, monkeypatch):
    from racines.errors import RenderFailed
    from racines.generators import get_generator
    from racines.generators.diffusion.ltx import LtxGenerator
    from racines.pipeline import load
    from tests.conftest import write_diffusion_project
    from tests.test_diffusion_pipelines import shot_text

    final = "final: {kind: ltx, model: tiny-ltx, width: 32, height: 32, num_frames: 9, max_sequence_length: 16, steps: 1}"
    root = write_diffusion_project(tmp_path / "film", {"s010": shot_text(final)})
    real = LtxGenerator.output

    def overflowed(self, result):  # what an fp16 VAE that overflowed decodes to
        frames = real(self, result)
        frames[0, 0, 0, 0] = np.nan
        return frames

    monkeypatch.setattr(LtxGenerator, "output", overflowed)
    film = load(root, "final", models=True)
    with pytest.raises(RenderFailed, match=r"shots/s010.yaml: ltx .*1 NaN or infinite values \(decode step"):
        list(get_generator("ltx").frames(film.shots["s010"], film))


# --- 5. Wan's VAE and image encoder in float32 -----------------------------------------------------


def test_wan_vae_and_image_encoder_load_in_float32_under_bfloat16(tiny_hub):
    from racines.film.schema import ModelEntry
    from racines.generators.diffusion import runtime

    def loaded(repo, pipeline):
        model = resolve(repo, ModelEntry(repo=f"racines-tiny/{repo}"), tiny_hub)
        return runtime.load(runtime.Loading(pipeline, model, torch.bfloat16, "cpu")).pipe

    try:
        wan = loaded("wan-i2v", "WanImageToVideoPipeline")
        assert (wan.vae.dtype, wan.image_encoder.dtype) == (torch.float32, torch.float32)
        assert wan.transformer.dtype == wan.text_encoder.dtype == torch.bfloat16
        ltx = loaded("ltx", "LTXConditionPipeline")  # its pipeline casts latents to the prompt's dtype
        assert ltx.vae.dtype == ltx.transformer.dtype == torch.bfloat16
    finally:
        runtime.release()


# --- 6. the libraries a kind needs are checked at validation ---------------------------------------


def test_a_missing_library_of_the_kind_is_found_at_validation(tmp_path, empty_hub, monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "ftfy" else real(name, *a))
    root = project(tmp_path, "final: {kind: wan-flf2v}")
    (problem,) = [p for p in problems(root, "final", models=False) if p.field == "final.kind"]
    assert problem.line == 4 and "wan-flf2v needs the Python package ftfy" in problem.message
    assert problem.fix == "pip install ftfy"
    from racines.pipeline import load

    load(root, None, models=False)  # the draft profile does not run it


# --- 7. racines models' advice downloads only what racines loads ------------------------------------

SD15_FILES = ["model_index.json", "README.md", "v1-5-pruned.safetensors", "v1-5-pruned-emaonly.safetensors",
              "v1-5-pruned.ckpt", "unet/config.json", "unet/diffusion_pytorch_model.safetensors",
              "unet/diffusion_pytorch_model.fp16.safetensors", "unet/diffusion_pytorch_model.non_ema.safetensors",
              "unet/diffusion_pytorch_model.bin", "safety_checker/config.json", "safety_checker/model.safetensors",
              "tokenizer/vocab.json", "tokenizer/merges.txt", "text_encoder/model.fp16.safetensors",
              "text_encoder/model.safetensors", "scheduler/scheduler_config.json"]
SVD_FILES = ["model_index.json", "svd_xt.safetensors", "svd_xt_image_decoder.safetensors", "unet/config.json",
             "unet/diffusion_pytorch_model.fp16.safetensors", "unet/diffusion_pytorch_model.safetensors",
             "image_encoder/model.fp16.safetensors", "image_encoder/model.safetensors", "vae/config.json",
             "vae/diffusion_pytorch_model.fp16.safetensors", "vae/diffusion_pytorch_model.safetensors"]


def downloaded(name: str, files: list[str]) -> set[str]:
    """The files `hf download` takes with the advice's patterns (huggingface_hub's own filter)."""
    import re
    import shlex

    from huggingface_hub.utils import filter_repo_objects

    from racines.models.catalogue import BUILTIN
    from racines.models.resolve import how_to_get

    command = re.search(r"hf download (.*?);", how_to_get(name, BUILTIN[name])).group(1)
    words = shlex.split(command)
    include = words[words.index("--include") + 1:words.index("--exclude") if "--exclude" in words else None]
    exclude = words[words.index("--exclude") + 1:] if "--exclude" in words else None
    return set(filter_repo_objects(files, allow_patterns=include, ignore_patterns=exclude))


def test_download_advice_takes_each_component_once_and_no_single_file_checkpoint():
    assert downloaded("sd1.5", SD15_FILES) == {
        "model_index.json", "README.md", "unet/config.json", "unet/diffusion_pytorch_model.safetensors",
        "safety_checker/config.json", "safety_checker/model.safetensors", "tokenizer/vocab.json",
        "tokenizer/merges.txt", "text_encoder/model.safetensors", "scheduler/scheduler_config.json"}
    assert downloaded("svd-xt", SVD_FILES) == {  # its fp16 variant only
        "model_index.json", "unet/config.json", "unet/diffusion_pytorch_model.fp16.safetensors",
        "image_encoder/model.fp16.safetensors", "vae/config.json", "vae/diffusion_pytorch_model.fp16.safetensors"}
    lm = ["config.json", "model.safetensors", "tokenizer.json", "merges.txt", "onnx/model.onnx", "pytorch_model.bin"]
    assert downloaded("qwen2.5-0.5b-instruct", lm) == {"config.json", "model.safetensors", "tokenizer.json",
                                                      "merges.txt"}


# --- 8. GPUs are found where /proc/driver/nvidia is hidden (containers) ---------------------------

SMI = ("GPU 0: NVIDIA H100 80GB HBM3 (UUID: GPU-1)\nGPU 1: NVIDIA H100 80GB HBM3 (UUID: GPU-2)\n"
       "  MIG 3g.40gb     Device  0: (UUID: MIG-3)\n")


@pytest.fixture
def no_proc_gpus(monkeypatch):
    import sys

    from racines.batch import executors

    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    real = executors.Path
    monkeypatch.setattr(executors, "Path", lambda p: real("/nonexistent" + str(p)))
    monkeypatch.setitem(sys.modules, "pynvml", None)  # not installed
    return executors


def test_gpus_are_counted_by_nvidia_smi_without_proc(no_proc_gpus, monkeypatch):
    import subprocess

    executors = no_proc_gpus
    monkeypatch.setattr(executors.shutil, "which", lambda name: "/usr/bin/nvidia-smi" if name == "nvidia-smi" else None)
    calls = []

    def smi(args, **kwargs):
        calls.append(args)
        return subprocess.CompletedProcess(args, 0, stdout=SMI, stderr="")

    monkeypatch.setattr(executors.subprocess, "run", smi)
    assert executors.visible_gpus() == ["0", "1"] and calls == [["/usr/bin/nvidia-smi", "-L"]]
    executor = executors.LocalExecutor()
    assert executor.gpu_slots == 2 and "GPUs 0, 1" in executor.describe()  # a diffusion worker per GPU
    monkeypatch.setattr(executors.shutil, "which", lambda name: None)
    assert executors.visible_gpus() == []


def test_gpus_are_counted_by_nvml_first(no_proc_gpus, monkeypatch):
    import sys
    import types

    nvml = types.SimpleNamespace(nvmlInit=lambda: None, nvmlShutdown=lambda: None, nvmlDeviceGetCount=lambda: 4)
    monkeypatch.setitem(sys.modules, "pynvml", nvml)
    monkeypatch.setattr(no_proc_gpus.shutil, "which", lambda name: pytest.fail("nvidia-smi asked after NVML"))
    assert no_proc_gpus.visible_gpus() == ["0", "1", "2", "3"]


# --- 9. defaults are each checkpoint's recipe ----------------------------------------------------------


class Stop(Exception):
    pass


def loading_of(monkeypatch, tmp_path, final: str, on: str = "cuda"):
    """The Loading racines asks for (device monkeypatched), stopped before anything loads."""
    from racines.film.loader import load_film
    from racines.generators import get_generator
    from racines.generators.diffusion import runtime

    seen = []

    def load(spec):
        seen.append(spec)
        raise Stop

    monkeypatch.setattr(runtime, "device", lambda: on)
    monkeypatch.setattr(runtime, "load", load)
    root = project(tmp_path, f"final: {final}", models="models:\n  v: {path: models/v, variant: fp16}\n"
                   "  p: {path: models/p}\n")
    fake_pipeline(root / "models" / "v", "StableVideoDiffusionPipeline")
    fake_pipeline(root / "models" / "p", "StableVideoDiffusionPipeline")
    film = load_film(root, "final")
    shot = film.shots["s020"]
    with pytest.raises(Stop):
        get_generator(shot.kind).generate(shot, film)
    return seen[0]


def test_an_fp16_variant_runs_in_float16_on_a_gpu(tmp_path, empty_hub, monkeypatch):
    final = "{kind: svd, model: v, width: 64, height: 64, num_frames: 14}"
    assert loading_of(monkeypatch, tmp_path, final).dtype == torch.float16
    plain = "{kind: svd, model: p, width: 64, height: 64, num_frames: 14}"
    assert loading_of(monkeypatch, tmp_path / "p", plain).dtype == torch.bfloat16
    assert loading_of(monkeypatch, tmp_path / "c", final, on="cpu").dtype == torch.float32
    forced = "{kind: svd, model: v, width: 64, height: 64, num_frames: 14, precision: bfloat16}"
    assert loading_of(monkeypatch, tmp_path / "f", forced).dtype == torch.bfloat16


def test_wan_and_ltx_defaults_follow_their_recipes(tmp_path):
    from racines.generators.diffusion.base import Plan
    from racines.generators.diffusion.ltx import LtxGenerator, LtxSettings
    from racines.generators.diffusion.wan import WanFLF2VGenerator, WanI2VGenerator, WanI2VSettings

    settings = WanI2VSettings(kind="wan-i2v")
    assert WanI2VGenerator().steps(settings) == 40 and WanFLF2VGenerator().steps(settings) == 50
    assert WanI2VGenerator().flow_shift(settings, Plan(832, 480, 81, 16)) == 3.0
    assert WanI2VGenerator().flow_shift(settings, Plan(1280, 720, 81, 16)) == 5.0
    assert WanI2VGenerator().flow_shift(settings.model_copy(update={"flow_shift": 8.0}), Plan(832, 480, 81, 16)) == 8.0
    ltx = LtxSettings(kind="ltx")
    kwargs = LtxGenerator().call_kwargs(ltx, Plan(32, 32, 9, 24), {"image": None}, "", "")
    assert (kwargs["image_cond_noise_scale"], kwargs["decode_timestep"], kwargs["decode_noise_scale"]) == \
        (0.15, 0.05, 0.025)


def test_wan_flow_shift_reaches_the_scheduler(tmp_path, tiny_hub):
    from racines.generators import get_generator
    from racines.generators.diffusion import runtime
    from racines.pipeline import load
    from tests.conftest import write_diffusion_project
    from tests.test_diffusion_pipelines import shot_text

    final = ("final: {kind: wan-i2v, model: tiny-wan, width: 16, height: 16, num_frames: 5, max_sequence_length: 16, "
             "steps: 1}")
    root = write_diffusion_project(tmp_path / "film", {"s010": shot_text(final)})
    film = load(root, "final", models=True)
    generator = get_generator("wan-i2v")
    try:
        generator.generate(film.shots["s010"], film)
        assert runtime._last.entries()[-1].pipe.scheduler.config.shift == 3.0  # the resident pipeline
        assert generator.report["runs"][0]["flow_shift"] == 3.0
    finally:
        runtime.release()
