"""The GPU benchmarks' own correctness, without a GPU: the baseline is each model card's recipe
(bench/bench_diffusion.py --gpu), and bench/gpu_check.py --dry-run runs every phase on tiny sizes."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from tests.conftest import write_diffusion_project
from tests.test_diffusion_pipelines import shot_text

REPO = Path(__file__).resolve().parents[1]


def bench_module(name: str):
    spec = importlib.util.spec_from_file_location(f"bench_{name}", REPO / "bench" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the file runs
    spec.loader.exec_module(module)
    return module


BF16, FP16, FP32 = torch.bfloat16, torch.float16, torch.float32
#: kind: (tiny builder, final: block, expected dtype per component)
FAMILIES = {
    "svd": ("svd", "width: 32, height: 32, num_frames: 14",
            {"unet": FP16, "vae": FP16, "image_encoder": FP16}),
    "wan-i2v": ("wan-i2v", "width: 16, height: 16, num_frames: 9, max_sequence_length: 16",
                {"transformer": BF16, "text_encoder": BF16, "vae": FP32, "image_encoder": FP32}),
    "ltx": ("ltx", "width: 32, height: 32, num_frames: 9, max_sequence_length: 16",
            {"transformer": BF16, "text_encoder": BF16, "vae": BF16}),
    "cogvideox": ("cogvideox", "width: 16, height: 16, num_frames: 9, max_sequence_length: 16",
                  {"transformer": BF16, "text_encoder": BF16, "vae": BF16}),
}


def weights_dtype(model) -> torch.dtype:
    """The dtype most of a model's weights are in (diffusers keeps a few norms of Wan in float32)."""
    counts: dict[torch.dtype, int] = {}
    for parameter in model.parameters():
        counts[parameter.dtype] = counts.get(parameter.dtype, 0) + parameter.numel()
    return max(counts, key=counts.get)


@pytest.mark.parametrize("kind", list(FAMILIES))
def test_the_gpu_baseline_is_the_model_cards_recipe(tmp_path, monkeypatch, kind):
    """Defect 12: the baseline was from_pretrained(folder) in float32, so '1.3x' measured bf16 against fp32."""
    from racines.generators import get_generator
    from racines.generators.diffusion import runtime, tiny
    from racines.pipeline import load

    bench = bench_module("bench_diffusion")
    builder, sizes, expected = FAMILIES[kind]
    hub = tmp_path / "hub"
    monkeypatch.setenv("HF_HUB_CACHE", str(hub))
    bench.save_as_shipped(tiny.BUILDERS[builder](), hub, f"racines-bench/{builder}", kind)
    folder = next((hub / f"models--racines-bench--{builder}" / "snapshots").iterdir())
    if kind == "svd":  # the fp16 variant files, as the SVD-XT repo ships them
        assert list(folder.glob("unet/*.fp16.safetensors"))
    pipe = bench.model_card_pipeline(kind, folder, "cpu")
    dtypes = {name: weights_dtype(getattr(pipe, name)) for name in expected}
    assert dtypes == expected

    variant = ", variant: fp16" if kind == "svd" else ""
    root = write_diffusion_project(tmp_path / "film", {"s010": shot_text(
        f"final: {{kind: {kind}, model: bench, {sizes}, steps: 3}}")})
    (root / "models.yaml").write_text(f"models:\n  bench: {{repo: racines-bench/{builder}{variant}}}\n")
    film = load(root, "final", models=True)
    shot, generator = film.shots["s010"], get_generator(kind)
    kwargs = bench.model_card_call(generator, shot, film, pipe)
    plan = generator.plan(shot.generator, shot, film)
    assert kwargs["num_inference_steps"] == 3
    assert (kwargs["width"], kwargs["height"], kwargs["num_frames"]) == (plan.width, plan.height, plan.num_frames)
    # racines on a GPU loads the same dtypes (its own code path, the device monkeypatched)
    model = generator.model(film, shot.generator)
    assert runtime.dtype_for("auto", "cuda", model.entry.variant) == expected[next(iter(expected))]
    runtime.release()


#: every phase of gpu_check.py and the fields each of its lines must carry
PHASE_FIELDS = {
    "environment": {"device", "cuda", "dry_run", "peak_tflops", "torch", "diffusers"},
    "matmul": {"n", "dtype", "seconds", "tflops"},
    "attention": {"case", "batch", "heads", "head_dim", "tokens", "flops", "backends"},
    "text_encoder": {"family", "seconds", "params", "peak_allocated_gib", "peak_reserved_gib"},
    "image_encoder": {"family", "seconds", "params", "peak_allocated_gib", "peak_reserved_gib"},
    "denoiser": {"family", "backend", "seconds", "flops", "tflops", "peak_allocated_gib", "peak_reserved_gib"},
    "vae_decode": {"family", "seconds", "dtype", "peak_allocated_gib", "peak_reserved_gib"},
    "racines_vs_card": {"racines", "model_card", "max_frame_diff", "frames_equal_within_bf16", "seconds_ratio"},
    "done": {"seconds"},
}


def test_gpu_check_dry_run_reports_every_phase(tmp_path):
    out = tmp_path / "check.jsonl"
    result = subprocess.run([sys.executable, str(REPO / "bench" / "gpu_check.py"), "--dry-run", "--steps", "2",
                             "--out", str(out)], capture_output=True, text=True, timeout=420, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    lines = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    assert [json.loads(line) for line in out.read_text().splitlines()] == lines  # the file holds the same lines
    assert not [line for line in lines if "error" in line], [line["error"] for line in lines if "error" in line]
    measured = [line for line in lines if "skipped" not in line]
    for phase, fields in PHASE_FIELDS.items():
        found = [line for line in measured if line["phase"] == phase]
        assert found, f"no {phase} line"
        assert all(fields <= line.keys() for line in found), (phase, found)
    by = {(line["phase"], line.get("family") or line.get("case")) for line in measured}
    for family in ("wan", "ltx", "svd"):
        assert ("denoiser", family) in by and ("vae_decode", family) in by
    assert {("text_encoder", "wan"), ("text_encoder", "ltx"), ("image_encoder", "wan"), ("image_encoder", "svd")} <= by
    assert {line["case"] for line in measured if line["phase"] == "attention"} == {
        "wan-flf2v-720p", "ltx-768x512", "svd-xt-1024x576"}
    assert all(line["backends"]["native"]["max_diff_vs_first"] == 0.0 for line in lines if line["phase"] == "attention")
    wan = next(line for line in measured if line["phase"] == "denoiser" and line["family"] == "wan")
    assert wan["backend"] == "native" and wan["flops"] > 0 and 0 < wan["attention_share"] < 1 and wan["seconds"] > 0
    (versus,) = [line for line in lines if line["phase"] == "racines_vs_card"]
    assert versus["frames_equal_within_bf16"] and versus["max_frame_diff"] <= 2**-7
    assert versus["racines"]["call_s"] > 0 and versus["model_card"]["call_s"] > 0


def test_gpu_check_counts_the_flops_of_the_full_size_dits_as_the_research_notes_do():
    """On the meta device (no memory): Wan 2.1 14B and LTX-Video 2B per-token parameters and tokens
    against performance.md's formula (flops_calc.py: 2 P_tok L + 4 L^2 d layers)."""
    check = bench_module("gpu_check")
    with torch.device("meta"):
        wan, ltx = check.wan_transformer(False), check.ltx_transformer(False)
    wan_shape, ltx_shape = check.SHAPES["wan-flf2v-720p"][0], check.SHAPES["ltx-768x512"][0]
    assert (wan_shape.tokens, ltx_shape.tokens) == (21 * 45 * 80, 6144)
    d = 5120
    wan_ptok = 40 * (4 * d**2 + 2 * d**2 + 2 * d * 13824)
    counted = check.dit_flops(wan, wan_shape.tokens)
    assert counted["per_token_params"] == wan_ptok
    assert counted["flops"] == 2 * wan_ptok * 75600 + 4 * 75600**2 * d * 40
    assert 0.7 < counted["attention_share"] < 0.75  # performance.md: 72 % at 720p
    d = 2048
    ltx_ptok = 28 * (4 * d**2 + 2 * d**2 + 2 * d * 8192)
    assert check.dit_flops(ltx, 6144)["per_token_params"] == ltx_ptok
    assert check.peak_tflops("NVIDIA H100 80GB HBM3") == 989.4 and check.peak_tflops("NVIDIA H100 PCIe") == 756.0
