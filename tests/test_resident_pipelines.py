"""Resident pipelines and LoRA adapters, on tiny random-weight models on the CPU.

* a LoRA reaches both experts of Wan 2.2 A14B, is fused, and a change of scale switches the
  adapters on the resident pipeline (unfuse, set_adapters, fuse) without loading it again; the
  frames equal a direct diffusers call with the same LoRA and scale;
* the pipeline cache: least recently used out, sized by memory (measured) or by count;
* ``racines render`` keeps a video model and its targets' keyframe model both resident;
* ``racines batch``: long-lived workers fed shots grouped by model load each model once.
"""

from __future__ import annotations

import json
import os
import re

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from racines.cli import main
from racines.generators import get_generator
from racines.generators.diffusion import resident, runtime, tiny
from racines.pipeline import load
from racines.takes.store import TakeStore
from tests.conftest import TINY_MODELS_YAML, write_diffusion_project

PHOTO = "source: {photo: photos/grid.png, contributor: Amina, consent: granted}\n"
DRAFT = "generator: {kind: morph, prompt: her scarf into jasmine flowers, seed: 3, target: photos/bloom.png}\n"
WAN22 = ("final: {kind: wan-i2v, model: tiny-wan22, width: 16, height: 16, num_frames: 9, max_sequence_length: 16, "
         "steps: 2%s}")
LORA = ", lora: [{path: ../loras/petals.safetensors, scale: %s}]"


def shot_text(final: str, frames: int = 12) -> str:
    return PHOTO + f"duration: {frames}\n" + DRAFT + final + "\n"


@pytest.fixture(autouse=True)
def fresh_cache():
    runtime.release()
    yield
    runtime.release()


@pytest.fixture(scope="module")
def wan22_hub(tiny_hub):
    """The two-expert tiny Wan 2.2 beside the other tiny models."""
    tiny.into_hf_cache(tiny.wan22(), tiny_hub, "racines-tiny/wan22-i2v")
    return next((tiny_hub / "models--racines-tiny--wan22-i2v" / "snapshots").iterdir())


def write_project(root, shots):
    write_diffusion_project(root, shots)
    (root / "models.yaml").write_text(TINY_MODELS_YAML + "  tiny-wan22: {repo: racines-tiny/wan22-i2v, licence: test-only}\n")
    return root


def wan_lora(folder):
    """A LoRA on every attention projection of a Wan transformer, saved by diffusers."""
    from peft import LoraConfig, get_peft_model_state_dict

    transformer = tiny.wan22().transformer
    torch.manual_seed(1)
    transformer.add_adapter(LoraConfig(r=4, lora_alpha=4, init_lora_weights=False,
                                       target_modules=["to_q", "to_k", "to_v", "to_out.0"]))
    folder.mkdir(parents=True, exist_ok=True)
    import diffusers

    diffusers.WanImageToVideoPipeline.save_lora_weights(
        folder, transformer_lora_layers=get_peft_model_state_dict(transformer), weight_name="petals.safetensors")
    return folder / "petals.safetensors"


def counting(monkeypatch, cls):
    """Count ``cls.from_pretrained`` calls."""
    calls = []
    original = cls.from_pretrained.__func__

    def counted(klass, *args, **kwargs):
        calls.append(args[0] if args else kwargs)
        return original(klass, *args, **kwargs)

    monkeypatch.setattr(cls, "from_pretrained", classmethod(counted))
    return calls


def direct_wan22(folder, root, lora=None, scale=1.0):
    """The same generation as a plain diffusers script: LoRA into both experts, at a scale."""
    import diffusers
    from PIL import Image

    from racines.film.images import fit, load_rgb

    pipe = diffusers.WanImageToVideoPipeline.from_pretrained(folder)
    pipe.scheduler = type(pipe.scheduler).from_config(pipe.scheduler.config, shift=3.0)
    if lora is not None:
        pipe.load_lora_weights(lora, adapter_name="petals")
        pipe.load_lora_weights(lora, adapter_name="petals", load_into_transformer_2=True)
        pipe.set_adapters(["petals"], adapter_weights=[scale])
    image = Image.fromarray(fit(load_rgb(root / "shots/photos/grid.png"), 16, 16, "cover"))
    return pipe(image=image, prompt="her scarf into jasmine flowers", negative_prompt="", height=16, width=16,
                num_frames=9, guidance_scale=5.0, num_inference_steps=2, max_sequence_length=16,
                generator=torch.Generator("cpu").manual_seed(3), output_type="np").frames[0]


def test_a_lora_reaches_both_wan22_experts_and_a_scale_change_never_reloads(tmp_path, wan22_hub, monkeypatch):
    import diffusers
    from peft.tuners.tuners_utils import BaseTunerLayer

    root = tmp_path / "film"
    lora = wan_lora(root / "loras")
    write_project(root, {"s010": shot_text(WAN22 % (LORA % 0.8)), "s020": shot_text(WAN22 % (LORA % 0.3)),
                         "s030": shot_text(WAN22 % ""), "s040": shot_text(WAN22 % (LORA % 0.8))})
    film = load(root, "final", models=True)
    calls = counting(monkeypatch, diffusers.WanImageToVideoPipeline)
    generator = get_generator("wan-i2v")
    frames = {s: generator.generate(film.shots[s], film).frames for s in ("s010", "s020", "s030", "s040")}
    assert len(calls) == 1, calls  # one load: scales and adapters change on the resident pipeline

    (entry,) = runtime._last.entries()
    base = diffusers.WanImageToVideoPipeline.from_pretrained(wan22_hub)
    for expert in ("transformer", "transformer_2"):
        layers = [m for m in getattr(entry.pipe, expert).modules() if isinstance(m, BaseTunerLayer)]
        assert layers and all(layer.merged for layer in layers), expert  # the adapter is fused into both experts
        fused = getattr(entry.pipe, expert).blocks[0].attn1.to_q.base_layer.weight
        assert (fused - getattr(base, expert).blocks[0].attn1.to_q.weight).abs().max() > 1e-3, expert
    assert entry.unfused == 2  # 0.8, unfused for 0.3, unfused for none, fused again at 0.8

    plain = direct_wan22(wan22_hub, root)
    for shot, scale in (("s010", 0.8), ("s020", 0.3), ("s040", 0.8)):
        expected = direct_wan22(wan22_hub, root, lora, scale)
        assert np.abs(frames[shot] - expected).max() <= 1e-5, shot
        assert np.abs(frames[shot] - plain).max() > 1e-3, shot  # the LoRA changed the frames
    assert np.abs(frames["s030"] - plain).max() <= 1e-5  # unfused: the base weights again
    assert np.abs(frames["s010"] - frames["s020"]).max() > 1e-4

    runs = [generator.report["runs"][-1]]  # the last shot's report says what happened
    assert any("resident pipeline reused" in note for note in runs[0]["memory"])
    assert any(note.startswith("LoRA fused (transformer, transformer_2)") for note in runs[0]["memory"])


def test_a_take_in_bfloat16_does_not_depend_on_the_scales_fused_before_it(tmp_path, wan22_hub):
    # fusing then unfusing in bfloat16 rounds the weights; the base weights are restored exactly
    root = tmp_path / "film"
    wan_lora(root / "loras")
    bf16 = ", precision: bfloat16"
    write_project(root, {"s010": shot_text(WAN22 % (LORA % 0.8 + bf16)), "s020": shot_text(WAN22 % (LORA % 0.3 + bf16)),
                         "s030": shot_text(WAN22 % bf16)})
    film = load(root, "final", models=True)
    generator = get_generator("wan-i2v")
    first = generator.generate(film.shots["s010"], film).frames
    (entry,) = runtime._last.entries()
    weight = entry.pipe.transformer.blocks[0].attn1.to_q.base_layer.weight
    assert weight.dtype == torch.bfloat16
    generator.generate(film.shots["s020"], film)
    plain = generator.generate(film.shots["s030"], film).frames
    assert torch.equal(weight, entry.base_weights[("transformer", "blocks.0.attn1.to_q")][0])  # the base, bit for bit
    again = generator.generate(film.shots["s010"], film).frames
    assert entry.unfused == 2 and np.array_equal(first, again)
    runtime.release()
    fresh = get_generator("wan-i2v").generate(film.shots["s030"], film).frames
    assert np.array_equal(plain, fresh)

def test_a_lora_file_is_loaded_into_both_experts_once(tmp_path, wan22_hub):
    root = tmp_path / "film"
    lora = wan_lora(root / "loras")
    write_project(root, {"s010": shot_text(WAN22 % (LORA % 0.5))})
    film = load(root, "final", models=True)
    generator = get_generator("wan-i2v")
    generator.generate(film.shots["s010"], film)
    notes = generator.report["runs"][-1]["memory"]
    assert "LoRA petals.safetensors loaded into both experts (transformer, transformer_2)" in notes
    (entry,) = runtime._last.entries()
    assert entry.pipe.get_list_adapters() == {"transformer": [entry.adapters[next(iter(entry.adapters))]],
                                              "transformer_2": [entry.adapters[next(iter(entry.adapters))]]}
    assert str(lora) in next(iter(entry.adapters))[0]


# --- the cache ---------------------------------------------------------------------------


def test_the_cache_evicts_the_least_recently_used_when_memory_or_count_runs_out():
    free = {"gpu": 10 << 30}
    cache = resident.PipelineCache(measure=lambda where: (free[where], 20 << 30))
    for name in ("a", "b", "c"):
        cache.put(name, resident.Resident(object(), [], 0.0))
    cache.get("a")  # used: b is now the least recent
    # 4 GiB reserve (20 % of 20 GiB) + 5 GiB fits in 10 GiB free
    assert cache.make_room(5 << 30, "gpu", count=8) == []
    assert cache.make_room(5 << 30, "gpu", count=3) == ["b"]
    free["gpu"] = 1 << 30
    assert cache.make_room(5 << 30, "gpu", count=8) == ["c", "a"]  # nothing fits: all out, load anyway
    assert len(cache) == 0


def test_capacity_is_two_on_the_cpu_and_configurable(monkeypatch):
    monkeypatch.delenv(resident.COUNT_VARIABLE, raising=False)
    assert resident.capacity("cpu") == 2
    monkeypatch.setenv(resident.COUNT_VARIABLE, "1")
    assert resident.capacity("cpu") == 1 and resident.capacity("cuda") == 1
    monkeypatch.setenv(resident.COUNT_VARIABLE, "none")
    with pytest.raises(ValueError, match=r"RACINES_RESIDENT_PIPELINES='none'.*\n    fix: set"):
        resident.capacity("cpu")


def test_weight_bytes_are_read_from_the_headers(wan22_hub):
    import diffusers

    pipe = diffusers.WanImageToVideoPipeline.from_pretrained(wan22_hub)
    # parameters() counts the T5 embedding tied to its encoder's once, as the file holds it
    parameters = sum(p.numel() for part in ("transformer", "transformer_2", "vae", "text_encoder")
                     for p in getattr(pipe, part).parameters())
    assert resident.weight_bytes(wan22_hub, torch.float32) == 4 * parameters
    # bfloat16, with the VAE in float32 as Wan loads it
    vae = sum(p.numel() for p in pipe.vae.parameters())
    assert resident.weight_bytes(wan22_hub, torch.bfloat16, ("vae",)) == 2 * parameters + 2 * vae


def test_a_retry_after_running_out_of_memory_drops_the_resident_pipelines(tmp_path, wan22_hub):
    root = write_project(tmp_path / "film", {"s010": shot_text(WAN22 % "")})
    film = load(root, "final", models=True)
    get_generator("wan-i2v").generate(film.shots["s010"], film)
    assert len(runtime._last) == 1
    attempts = []

    def call():
        attempts.append(1)
        if len(attempts) == 1:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return "frames"

    assert runtime.run_with_retry(call, lambda: [])[0] == "frames"
    assert runtime._last is None or len(runtime._last) == 0  # its state changed: never reused as loaded


# --- one process, two models ---------------------------------------------------------------

FLF = ("final: {kind: wan-flf2v, model: tiny-wan-flf, width: 16, height: 16, num_frames: 9, max_sequence_length: 16, "
       "steps: 2, target: {model: tiny-sd, prompt: jasmine flowers, steps: 2, strength: 0.6, seed: %d}}")


def test_render_keeps_the_video_and_the_keyframe_model_both_resident(tmp_path, tiny_hub, monkeypatch):
    import diffusers

    root = write_project(tmp_path / "film", {f"s0{i}0": shot_text(FLF % i) for i in (1, 2, 3)})
    wan = counting(monkeypatch, diffusers.WanImageToVideoPipeline)
    sd = counting(monkeypatch, diffusers.StableDiffusionImg2ImgPipeline)
    result = CliRunner().invoke(main, ["--project", str(root), "render", "--profile", "final", "--no-master"])
    assert result.exit_code == 0, result.output
    assert (len(wan), len(sd)) == (1, 1)  # before: one load of each per shot, each evicting the other
    for shot in ("s010", "s020", "s030"):
        generation = TakeStore(root).latest(shot).manifest["generation"]
        assert generation["keyframe"]["runs"][-1]["pipeline"] == "StableDiffusionImg2ImgPipeline"
    assert len(runtime._last) == 2


def test_one_resident_pipeline_when_asked(tmp_path, tiny_hub, monkeypatch):
    import diffusers

    monkeypatch.setenv(resident.COUNT_VARIABLE, "1")
    root = write_project(tmp_path / "film", {f"s0{i}0": shot_text(FLF % i) for i in (1, 2)})
    wan = counting(monkeypatch, diffusers.WanImageToVideoPipeline)
    result = CliRunner().invoke(main, ["--project", str(root), "render", "--profile", "final", "--no-master"])
    assert result.exit_code == 0, result.output
    assert len(wan) == 2
    notes = TakeStore(root).latest("s020").manifest["generation"]["runs"][-1]["memory"]
    assert any(n.startswith("evicted to make room: racines-tiny/sd") for n in notes), notes


def load_counts(root, shots) -> dict[str, list[str]]:
    """Per model, how each shot's run got its pipeline: 'loaded' from disk or 'reused' (from the manifests)."""
    counts: dict[str, list[str]] = {}
    for shot in shots:
        manifest = TakeStore(root).latest(shot).manifest
        for run in manifest["generation"]["runs"]:
            how = "loaded" if any(n.startswith("loaded in") for n in run["memory"]) else \
                "reused" if any(n.startswith("resident pipeline reused") for n in run["memory"]) else "?"
            counts.setdefault(run["model"].split("@")[0], []).append(how)
    return counts


KEYFRAME = "final: {kind: keyframe, model: tiny-sd, width: 32, height: 32, steps: 2, strength: 0.6, seed: %d}"
LTX = "final: {kind: ltx, model: tiny-ltx, width: 32, height: 32, num_frames: 9, max_sequence_length: 16, steps: 2, seed: %d}"


@pytest.mark.parametrize("gpus", [None, "0,1"], ids=["one worker", "a worker per GPU"])
def test_a_batch_of_four_shots_on_two_models_loads_each_model_once(tmp_path, tiny_hub, monkeypatch, gpus):
    """Two GPUs are named but absent: a worker each, pinned, running on the CPU all the same."""
    if gpus:
        monkeypatch.setenv("CUDA_VISIBLE_DEVICES", gpus)
    else:
        monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    import diffusers

    loads = tmp_path / "loads.txt"
    original = diffusers.DiffusionPipeline.from_pretrained.__func__

    def counted(cls, folder, *args, **kwargs):  # the forked workers inherit it: one line per load
        with open(loads, "a") as file:
            file.write(f"{os.getpid()} {folder}\n")
        return original(cls, folder, *args, **kwargs)

    monkeypatch.setattr(diffusers.DiffusionPipeline, "from_pretrained", classmethod(counted))
    shots = {"s010": shot_text(LTX % 1), "s020": shot_text(KEYFRAME % 1), "s030": shot_text(LTX % 2),
             "s040": shot_text(KEYFRAME % 2)}
    root = write_project(tmp_path / "film", shots)
    result = CliRunner().invoke(main, ["--project", str(root), "batch", "--no-review"])
    assert result.exit_code == 0, result.output
    loaded = [line.split()[1] for line in loads.read_text().splitlines()]
    assert sorted(folder.split("models--racines-tiny--")[1].split("/")[0] for folder in loaded) == ["ltx", "sd"]
    counts = load_counts(root, shots)
    assert sorted(counts) == ["racines-tiny/ltx", "racines-tiny/sd"]
    for model, how in counts.items():
        assert sorted(how) == ["loaded", "reused"], (model, how)
    starts = [line.split()[1] for line in result.output.splitlines() if line.startswith("start ")]
    pids = {shot: re.findall(r", pid (\d+)", (next(root.glob(f"renders/dailies/*/logs/{shot}.log"))).read_text())
            for shot in shots}
    if gpus:  # one worker took the keyframes, the other the video shots, from the start
        assert set(starts[:2]) in ({"s020", "s010"}, {"s020", "s030"}), starts
        assert pids["s020"] == pids["s040"] != pids["s010"] == pids["s030"]
    else:  # keyframes first, then the video pass, in one worker
        assert starts[:2] == ["s020", "s040"] or starts[:2] == ["s040", "s020"], starts
        assert len({pid for found in pids.values() for pid in found}) == 1
    summary = json.loads(next((root / "renders/dailies").glob("*/summary.json")).read_text())
    assert {s["shot_id"]: s["state"] for s in summary["shots"]} == dict.fromkeys(shots, "made")


def test_a_lora_that_fails_to_load_leaves_no_half_adapted_pipeline_behind(tmp_path, wan22_hub):
    from safetensors.torch import save_file

    from racines.errors import RenderFailed

    root = tmp_path / "film"
    (root / "loras").mkdir(parents=True)
    save_file({"blocks.0.attn1.to_q.weight": torch.zeros(24, 24)}, root / "loras/petals.safetensors")  # no LoRA keys
    write_project(root, {"s010": shot_text(WAN22 % (LORA % 0.5))})
    film = load(root, "final", models=True)
    with pytest.raises(RenderFailed, match="s010.yaml: wan-i2v with model 'tiny-wan22' failed: ValueError"):
        list(get_generator("wan-i2v").frames(film.shots["s010"], film))
    assert len(runtime._last) == 0


def test_a_free_worker_takes_its_own_models_then_new_ones_and_leaves_a_busy_workers_last_shot():
    from racines.batch.plan import startable

    models = {"k1": ("sd",), "k2": ("sd",), "v1": ("wan",), "v2": ("wan",), "still": ()}
    sd, wan = frozenset({"sd"}), frozenset({"wan"})
    # nobody holds anything: in the plan's order
    assert startable(["k1", "k2", "v1"], models, [frozenset()], []) == ["k1", "k2", "v1"]
    # a busy worker holds sd and one sd shot waits: the free worker loads wan instead
    assert startable(["k2", "v1", "v2"], models, [frozenset()], [sd]) == ["v1", "v2"]
    # two sd shots wait: a second copy of sd pays, after the models nobody holds
    assert startable(["k1", "k2", "v1"], models, [frozenset()], [sd]) == ["v1", "k1", "k2"]
    # an idle worker holding wan takes wan first; weightless shots always start
    assert startable(["k2", "still", "v1"], models, [wan], [sd]) == ["still", "v1"]
