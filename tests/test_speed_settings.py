"""speed: in a final: block: validated where it is written, recorded in the take's cache key, and
applied to tiny random-weight pipelines on the CPU (where 'auto' means SDPA and no compilation)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from racines.generators import get_generator
from racines.generators.diffusion import runtime, speed
from racines.pipeline import load
from racines.takes.cache import HashCache, changed_inputs, key_inputs
from tests.conftest import write_diffusion_project
from tests.test_diffusion_pipelines import shot_text
from tests.test_diffusion_validation import problems, project

TINY_TEXT = "max_sequence_length: 16, steps: 2"
LTX = f"kind: ltx, model: tiny-ltx, width: 32, height: 32, num_frames: 9, {TINY_TEXT}"
WAN = f"kind: wan-i2v, model: tiny-wan, width: 16, height: 16, num_frames: 9, {TINY_TEXT}"


@pytest.mark.parametrize("speed_text, field, value", [
    ("{attention: fastest}", "final.speed.attention", "fastest"),
    ("{compile: fastest}", "final.speed.compile", "fastest"),
    ("{first_block_cache: 2}", "final.speed.first_block_cache", 2),
    ("{warp: 9}", "final.speed.warp", None),  # an unknown key: the fix lists the allowed ones
])
def test_bad_speed_values_are_named_with_file_line_and_field(tmp_path, empty_hub, speed_text, field, value):
    root = project(tmp_path, f"final:\n  kind: wan-flf2v\n  speed: {speed_text}\n")
    (problem,) = [p for p in problems(root, models=False) if p.field == field]
    assert problem.file == "shots/s020.yaml" and problem.line == 6 and problem.value == value
    assert ("fp8" in problem.fix) if value is None else ("'auto'" in problem.message or "1" in problem.message)


def test_kernels_and_fp8_without_their_packages_are_refused_at_validation(tmp_path, empty_hub, monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    absent = {"torchao", "flash_attn_interface"}
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name in absent else real(name, *a))
    root = project(tmp_path, "final: {kind: wan-flf2v, speed: {fp8: true, attention: flash3}}")
    found = {p.field: p for p in problems(root, "final", models=False) if p.field.startswith("final.speed")}
    assert set(found) == {"final.speed.fp8", "final.speed.attention"}
    assert "torchao" in found["final.speed.fp8"].message and "install torchao" in found["final.speed.fp8"].fix
    assert "FlashAttention-3" in found["final.speed.attention"].message
    assert found["final.speed.attention"].value == "flash3" and "attention: auto" in found["final.speed.attention"].fix
    assert all(p.file == "shots/s020.yaml" and p.line == 4 for p in found.values())


def keyed(tmp_path, tiny_hub, final: str) -> dict:
    root = write_diffusion_project(tmp_path, {"s010": shot_text(f"final: {{{final}}}")})
    film = load(root, "final")
    shot = film.shots["s010"]
    return key_inputs(shot, film, get_generator(shot.kind), HashCache())


def test_speed_settings_change_the_cache_key_and_say_which(tmp_path, tiny_hub):
    plain = keyed(tmp_path / "a", tiny_hub, LTX)
    assert not any(name.startswith("speed") for name in plain)  # takes made before speed: keep their keys
    # the defaults written out (YAML reads off as false) keep the key too
    assert keyed(tmp_path / "b", tiny_hub, LTX + ", speed: {attention: sdpa, compile: off}") == plain
    faster = keyed(tmp_path / "c", tiny_hub, LTX + ", speed: {attention: auto, compile: auto}")
    assert changed_inputs(plain, faster) == ["speed"]
    assert faster["speed"] == {"attention": "auto", "compile": "auto"}
    cached = keyed(tmp_path / "d", tiny_hub, LTX + ", speed: {first_block_cache: 0.1}")
    assert cached["speed"] == {"first_block_cache": 0.1} and cached != faster


def generate(tmp_path, final: str, **update):
    root = write_diffusion_project(tmp_path, {"s010": shot_text(f"final: {{{final}}}")})
    film = load(root, "final", models=True)
    shot = film.shots["s010"]
    if update:
        settings = shot.generator.model_copy(update={"speed": shot.generator.speed.model_copy(update=update)})
        shot = dataclasses.replace(shot, generator=settings, final=settings)
    generator = get_generator(shot.kind)
    try:
        return generator.generate(shot, film).frames, generator.report["runs"][0]
    finally:
        runtime.release()


@pytest.mark.parametrize("attention", ["sdpa", "auto"])
def test_sdpa_and_auto_on_the_cpu_equal_the_default_call(tmp_path, tiny_hub, attention):
    default, report = generate(tmp_path / "a", LTX)
    assert "speed" not in report
    frames, report = generate(tmp_path / "b", LTX, attention=attention, compile="auto")
    assert frames.shape == default.shape and float(np.abs(frames - default).max()) <= 1e-5
    settings = {"compile": "auto"} if attention == "sdpa" else {"attention": attention, "compile": "auto"}
    assert report["speed"] == {"settings": settings, "approximate": False}  # what differs from the defaults
    notes = " | ".join(report["memory"])
    assert "attention sdpa" in notes and "self-attention layers of the transformer" in notes
    assert "compile skipped" in notes  # auto compiles on a CUDA GPU only


def test_first_block_cache_on_tiny_wan_runs_and_is_marked_approximate(tmp_path, tiny_hub):
    default, _ = generate(tmp_path / "a", WAN)
    frames, report = generate(tmp_path / "b", WAN, first_block_cache=0.2)
    assert frames.shape == default.shape and np.isfinite(frames).all()
    assert report["speed"]["approximate"] is True
    assert any("first-block cache" in note and "approximate" in note for note in report["memory"])


def loaded_ltx(tiny_hub):
    from racines.film.schema import ModelEntry
    from racines.models.resolve import resolve

    model = resolve("tiny-ltx", ModelEntry(repo="racines-tiny/ltx"), tiny_hub)
    return runtime.load(runtime.Loading("LTXConditionPipeline", model, torch.float32, "cpu"))


def test_attention_is_set_per_layer_and_never_process_wide(tiny_hub):
    from diffusers.models.attention_dispatch import AttentionBackendName, _AttentionBackendRegistry

    pipe = loaded_ltx(tiny_hub).pipe
    try:
        before = _AttentionBackendRegistry._active_backend
        assert speed.set_attention(pipe.transformer, "sdpa") == 1  # the tiny LTX has one block
        blocks = pipe.transformer.transformer_blocks
        assert blocks[0].attn1.processor._attention_backend == AttentionBackendName.NATIVE
        assert blocks[0].attn2.processor._attention_backend is None  # masked cross-attention stays as it was
        assert _AttentionBackendRegistry._active_backend == before
        with pytest.raises(speed.SpeedRefused, match=r"speed.attention: 'flash3' cannot run here.*fix: use"):
            speed.attention(pipe, "flash3", "cpu")
    finally:
        runtime.release()


def test_compile_on_compiles_repeated_blocks_with_a_persistent_cache(tiny_hub, tmp_path, monkeypatch):
    monkeypatch.delenv("TORCHINDUCTOR_CACHE_DIR", raising=False)
    monkeypatch.setenv("RACINES_COMPILE_CACHE", str(tmp_path / "inductor"))
    pipe = loaded_ltx(tiny_hub).pipe
    try:
        assert speed.compile_models(pipe, "auto", "cpu") == [
            "compile skipped: 'auto' compiles on a CUDA GPU only (set compile: true to compile on the CPU)"]
        monkeypatch.setattr(speed.shutil, "which", lambda name: "/usr/bin/g++")
        notes = speed.compile_models(pipe, True, "cpu")
        assert notes[0] == "compiled the transformer's 1 repeated blocks (LTXVideoTransformerBlock)"
        assert pipe.transformer.transformer_blocks[0]._compiled_call_impl is not None
        assert (tmp_path / "inductor").is_dir() and notes[-1] == f"inductor cache {tmp_path / 'inductor'}"
        monkeypatch.setattr(speed.shutil, "which", lambda name: None)
        with pytest.raises(speed.SpeedRefused, match="C\\+\\+ compiler"):
            speed.compile_models(pipe, True, "cpu")
    finally:
        runtime.release()


def test_fp8_is_refused_clearly_without_torchao_or_a_gpu(tiny_hub):
    pipe = loaded_ltx(tiny_hub).pipe
    try:
        with pytest.raises(speed.SpeedRefused, match="speed.fp8: .*(torchao|compute capability)") as caught:
            speed.fp8(pipe, True, "cpu")
        assert "fp8" in caught.value.fix
        with pytest.raises(speed.SpeedRefused, match="no transformer blocks"):
            speed.first_block_cache(pipe, 0.1)  # one block: nothing to skip
    finally:
        runtime.release()


def test_svd_unet_keeps_sdpa_under_auto_and_refuses_a_named_kernel(monkeypatch):
    from racines.generators.diffusion import tiny

    pipe = tiny.svd()
    monkeypatch.setattr(speed, "resolve_attention", lambda choice, on: "cudnn")  # as on an Ampere GPU
    assert speed.attention(pipe, "auto", "cuda") == ["attention sdpa (the UNetSpatioTemporalConditionModel's own processors)"]
    with pytest.raises(speed.SpeedRefused, match="does not go through diffusers' dispatcher"):
        speed.attention(pipe, "cudnn", "cuda")
    with pytest.raises(speed.SpeedRefused, match="no transformer blocks"):
        speed.first_block_cache(pipe, 0.1)
