"""Memory planned, not discovered: weights counted from the safetensors headers, the offload chosen
against the GPU's free memory before loading, every spelling of out-of-memory recognised, a decode
that runs out of memory retried alone; and the batch's GPU and CPU slots side by side."""

from __future__ import annotations

import inspect
import json
import os
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from racines.batch import executors, policy
from racines.batch.run import BatchOptions, ShotRecord, StopOnSignal, _execute
from racines.batch.task import Outcome
from racines.generators.diffusion import memory, runtime
from racines.generators.diffusion.memory import Shape, allocator_settings, component_bytes, is_out_of_memory, plan
from tests.conftest import write_diffusion_project


@pytest.fixture(scope="module")
def tiny_wan(tmp_path_factory) -> Path:
    from racines.generators.diffusion import tiny

    folder = tmp_path_factory.mktemp("wan")
    tiny.wan().save_pretrained(folder, safe_serialization=True)
    return folder


def stored_sizes(folder: Path) -> dict[str, tuple[int, int]]:
    """Each component's (floating-point elements, bytes of the others), read with safetensors itself."""
    sizes = {}
    for path in folder.rglob("*.safetensors"):
        floats = others = 0
        for tensor in load_file(path).values():
            if tensor.is_floating_point():
                floats += tensor.numel()
            else:
                others += tensor.numel() * tensor.element_size()
        part = path.relative_to(folder).parts[0]
        old = sizes.get(part, (0, 0))
        sizes[part] = (old[0] + floats, old[1] + others)
    return sizes


# --- weights from the headers ------------------------------------------------------------------------


def test_weights_from_headers_equal_the_tensors(tiny_wan):
    sizes = stored_sizes(tiny_wan)
    assert set(sizes) == {"transformer", "vae", "text_encoder", "image_encoder"}
    assert component_bytes(tiny_wan, 4) == {part: n * 4 + o for part, (n, o) in sizes.items()}   # exact
    # loaded in bfloat16, with Wan's VAE and image encoder kept in float32 (runtime.FLOAT32_PARTS)
    half = component_bytes(tiny_wan, 2, float32_parts=("vae", "image_encoder"))
    assert half["transformer"] == sizes["transformer"][0] * 2 + sizes["transformer"][1]
    assert half["vae"] == sizes["vae"][0] * 4 + sizes["vae"][1]


def test_a_variant_is_counted_alone_and_a_bad_header_is_named(tmp_path, tiny_wan):
    folder = tmp_path / "v"
    (folder / "transformer").mkdir(parents=True)
    source = tiny_wan / "transformer" / "diffusion_pytorch_model.safetensors"
    (folder / "transformer" / "diffusion_pytorch_model.safetensors").write_bytes(source.read_bytes())
    (folder / "transformer" / "diffusion_pytorch_model.fp16.safetensors").write_bytes(source.read_bytes())
    one = component_bytes(tiny_wan, 4)["transformer"]
    assert component_bytes(folder, 4) == {"transformer": one}
    assert component_bytes(folder, 4, variant="fp16") == {"transformer": one}
    broken = folder / "transformer" / "diffusion_pytorch_model.safetensors"
    broken.write_bytes((10**12).to_bytes(8, "little") + b"{}")
    with pytest.raises(memory.HeaderUnreadable, match="diffusion_pytorch_model.safetensors"):
        component_bytes(folder, 4)


# --- the plan ----------------------------------------------------------------------------------------


SHAPE = Shape(frames=9, height=16, width=16, guidance=True)


def planned(folder, free, asked="auto", on="cuda"):
    return plan(folder, SHAPE, 4, on, asked, measure=lambda: (free, 80 << 30))


def test_the_plan_chooses_none_model_or_group_at_its_thresholds(tiny_wan):
    weights = component_bytes(tiny_wan, 4)
    total, largest = sum(weights.values()), max(weights.values())
    # the documented activation estimate, by hand: Wan's VAE (4x temporal, 8x spatial), 2x2 patches,
    # 2 heads of 12, classifier-free guidance
    tokens = ((9 - 1) // 4 + 1) * (16 // 16) * (16 // 16)
    activations = tokens * 24 * 4 * memory.ACTIVATION_FACTOR * 2
    first = planned(tiny_wan, 1 << 40)
    assert (first.offload, first.denoise_bytes, first.weights) == ("none", activations, weights)
    assert first.figures == {"tokens": 3, "hidden": 24, "latent_frames": 3}

    def free_for(need):  # the smallest free memory in which ``need`` bytes fit the budget
        return int(np.ceil(need / memory.HEADROOM))

    assert planned(tiny_wan, free_for(total + activations)).offload == "none"
    assert planned(tiny_wan, free_for(total + activations) - 2).offload == "model"
    assert planned(tiny_wan, free_for(largest + activations)).offload == "model"
    low = planned(tiny_wan, free_for(largest + activations) - 2)
    assert low.offload == "group" and "largest component" in low.reason
    assert planned(tiny_wan, 10).reason.endswith("VAE tiling: the decode would not fit whole")
    assert planned(tiny_wan, 10).vae_tiling
    # the shot's own setting wins; off CUDA nothing is offloaded
    assert planned(tiny_wan, 10, asked="none").offload == "none"
    assert planned(tiny_wan, 1 << 40, asked="model").offload == "model"
    assert planned(tiny_wan, 10, on="cpu").offload == "none"
    report = planned(tiny_wan, 10).report()
    assert report["offload"] == "group" and report["weights_total"] == total and report["free_gib"] == 0.0
    assert report["weights_total_gib"] == round(total / memory.GIB, 3) and report["denoise_bytes"] == activations
    json.dumps(report)  # goes into the manifest as it is


def test_group_offload_is_called_as_diffusers_declares_it(monkeypatch):
    from diffusers import DiffusionPipeline

    calls = []

    class Pipe:
        vae = torch.nn.Linear(1, 1)

        def enable_group_offload(self, **kwargs):
            calls.append(kwargs)

        def enable_model_cpu_offload(self, **kwargs):
            calls.append(("model", kwargs))

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    notes = runtime.place(Pipe(), "cuda", "group")
    assert notes == ["group offload (leaf level, CUDA streams); vae on the GPU"]
    inspect.signature(DiffusionPipeline.enable_group_offload).bind(None, **calls[0])  # every argument exists
    assert calls[0]["offload_type"] == "leaf_level" and calls[0]["use_stream"] is True
    assert calls[0]["onload_device"] == torch.device("cuda") and calls[0]["exclude_modules"] == ["vae"]
    assert runtime.place(Pipe(), "cuda", "model") == ["model CPU offload"]


def test_the_allocator_setting_is_set_unless_the_user_chose():
    environ = {}
    assert allocator_settings(environ) == ["PYTORCH_CUDA_ALLOC_CONF", "PYTORCH_ALLOC_CONF"]
    assert environ == dict.fromkeys(("PYTORCH_CUDA_ALLOC_CONF", "PYTORCH_ALLOC_CONF"), "expandable_segments:True")
    for name in ("PYTORCH_CUDA_ALLOC_CONF", "PYTORCH_ALLOC_CONF"):
        chosen = {name: "max_split_size_mb:512"}
        assert allocator_settings(chosen) == [] and chosen == {name: "max_split_size_mb:512"}


# --- out of memory, every spelling ---------------------------------------------------------------------


OOM_MESSAGES = [
    ("OutOfMemoryError", "CUDA out of memory. Tried to allocate 2.00 GiB (GPU 0; 79.15 GiB total capacity)"),
    ("RuntimeError", "CUDA error: out of memory\nCUDA kernel errors might be asynchronously reported"),
    ("RuntimeError", "CUDA error: CUBLAS_STATUS_ALLOC_FAILED when calling `cublasCreate(handle)`"),
    ("RuntimeError", "cuDNN error: CUDNN_STATUS_NOT_ENOUGH_WORKSPACE"),
    ("RuntimeError", "cuDNN error: CUDNN_STATUS_ALLOC_FAILED"),
    ("OutOfMemoryError", "HIP out of memory. Tried to allocate 1.00 GiB (GPU 0; 63.98 GiB total capacity)"),
    ("RuntimeError", "MPS backend out of memory (MPS allocated: 17.00 GB, other allocations: 1.00 GB)"),
    ("RenderFailed", "shots/s010.yaml: wan-i2v with model 'wan' failed: RuntimeError: CUDA error: "
                     "CUBLAS_STATUS_ALLOC_FAILED when calling `cublasCreate(handle)`"),
]


@pytest.mark.parametrize(("error_type", "message"), OOM_MESSAGES)
def test_every_out_of_memory_is_classified(error_type, message):
    assert policy.classify(error_type, message) == policy.OUT_OF_MEMORY
    assert is_out_of_memory(error_type, message)
    if error_type == "RuntimeError":
        assert runtime.out_of_memory(RuntimeError(message))


def test_other_errors_are_not_out_of_memory():
    assert runtime.out_of_memory(torch.OutOfMemoryError("anything"))
    assert not runtime.out_of_memory(RuntimeError("CUDA error: an illegal memory access was encountered"))
    assert not runtime.out_of_memory(ValueError("out of memory"))  # not the device's error
    assert policy.classify("RuntimeError", "CUDNN_STATUS_EXECUTION_FAILED") == policy.ERROR


# --- a decode that runs out of memory is retried alone ---------------------------------------------


WAN = ("final: {kind: wan-i2v, model: tiny-wan, width: 16, height: 16, num_frames: 9, max_sequence_length: 16, "
       "steps: 2}")
PHOTO = "source: {photo: photos/grid.png, contributor: Amina, consent: granted}\n"


def test_a_decode_out_of_memory_retries_only_the_decode(tmp_path, tiny_hub, monkeypatch):
    import diffusers

    from racines.generators import get_generator
    from racines.pipeline import load

    root = write_diffusion_project(tmp_path / "film", {"s010": PHOTO + "duration: 12\ngenerator: {kind: kenburns}\n"
                                                       + WAN + "\n"})
    film = load(root, "final")
    shot = film.shots["s010"]
    runtime.release()
    clean = get_generator("wan-i2v").generate(shot, film).frames
    calls = {"pipeline": 0, "decode": 0}
    pipeline_call = diffusers.WanImageToVideoPipeline.__call__
    decode = diffusers.AutoencoderKLWan.decode

    def counted_call(self, *args, **kwargs):
        calls["pipeline"] += 1
        return pipeline_call(self, *args, **kwargs)

    def failing_decode(self, *args, **kwargs):
        calls["decode"] += 1
        if calls["decode"] == 1:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB")
        return decode(self, *args, **kwargs)

    monkeypatch.setattr(diffusers.WanImageToVideoPipeline, "__call__", counted_call)
    monkeypatch.setattr(diffusers.AutoencoderKLWan, "decode", failing_decode)
    generator = get_generator("wan-i2v")
    frames = generator.generate(shot, film).frames
    assert calls == {"pipeline": 1, "decode": 2}  # the denoising ran once; the decode twice
    np.testing.assert_array_equal(frames, clean)  # tiles larger than the frames: the same pixels
    run = generator.report["runs"][0]
    assert "out of memory in the decode: retried with VAE tiling" in run["memory"]
    assert run["memory_plan"]["offload"] == "none" and run["memory_plan"]["reason"].startswith("not on a CUDA GPU")
    assert run["memory_plan"]["weights"]["transformer"] > 0
    runtime.release()


# --- GPU slots and CPU slots side by side ------------------------------------------------------------


def recording_run_shot(folder: Path):
    def run_shot(film, task):
        started = time.monotonic()
        time.sleep(0.6)
        (folder / f"{task.shot_id}.json").write_text(json.dumps({
            "start": started, "end": time.monotonic(), "gpu": os.environ.get("CUDA_VISIBLE_DEVICES"),
            "alloc": os.environ.get("PYTORCH_CUDA_ALLOC_CONF")}))
        return Outcome(task.shot_id, task.attempt, True, made=True, version="v001")
    return run_shot


def most_at_once(spans: list[tuple[float, float]]) -> int:
    events = sorted([(s, 1) for s, _ in spans] + [(e, -1) for _, e in spans])
    running = best = 0
    for _, change in events:
        running += change
        best = max(best, running)
    return best


def test_diffusion_shots_get_a_gpu_each_and_weightless_shots_run_beside_them(tmp_path, monkeypatch):
    for name in ("PYTORCH_CUDA_ALLOC_CONF", "PYTORCH_ALLOC_CONF"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(executors, "visible_gpus", lambda: ["0", "1"])
    monkeypatch.setattr(executors, "cpu_cores", lambda: 5)   # 3 CPU slots once each GPU worker has a core
    monkeypatch.setattr(executors, "run_shot", recording_run_shot(tmp_path))
    kinds = {f"g{i}": "wan-i2v" for i in range(5)} | {f"c{i}": kind for i, kind in
                                                       enumerate(["kenburns", "morph", "still", "kenburns", "morph"])}
    def shot(kind):
        names = (lambda: ["wan2.1-i2v-480p"]) if kind == "wan-i2v" else None  # weightless kinds load no model
        return SimpleNamespace(kind=kind, frames=24, generator=SimpleNamespace(model_names=names), weights={})

    film = SimpleNamespace(shots={shot_id: shot(kind) for shot_id, kind in kinds.items()})
    executor = executors.LocalExecutor()
    assert (executor.gpu_slots, executor.cpu_slots, executor.slots) == (2, 3, 5)
    assert "2 for model weights (GPUs 0, 1), 3 for weightless shots" in executor.describe()
    records = {s: ShotRecord(s, k, 24, "missing") for s, k in kinds.items()}
    lines = []
    try:
        _execute(executor, film, list(kinds), {}, records, BatchOptions(), tmp_path / "logs", lines.append,
                 StopOnSignal())
    finally:
        executor.close()
    assert all(record.state == "made" for record in records.values()), lines
    ran = {shot_id: json.loads((tmp_path / f"{shot_id}.json").read_text()) for shot_id in kinds}
    gpu = [(r["start"], r["end"]) for s, r in ran.items() if s.startswith("g")]
    cpu = [(r["start"], r["end"]) for s, r in ran.items() if s.startswith("c")]
    assert most_at_once(gpu) == 2                      # never more diffusion workers than GPUs
    assert 2 <= most_at_once(cpu) <= 3                 # weightless shots in parallel on the CPU slots
    assert most_at_once(gpu + cpu) >= 4                # ... at the same time as the GPU workers
    assert {r["gpu"] for s, r in ran.items() if s.startswith("g")} == {"0", "1"}
    assert {r["gpu"] for s, r in ran.items() if s.startswith("c")} == {""}   # GPUs hidden from them
    assert {r["alloc"] for r in ran.values()} == {"expandable_segments:True"}


def test_without_a_gpu_one_pipeline_at_a_time(monkeypatch):
    monkeypatch.setattr(executors, "visible_gpus", lambda: [])
    monkeypatch.setattr(executors, "cpu_cores", lambda: 8)
    executor = executors.LocalExecutor()
    assert (executor.gpu_slots, executor.cpu_slots) == (1, 8)
    assert executors.LocalExecutor(jobs=2).slots == 2
