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
