"""Diffusion generators: what racines costs around a diffusers call, and what its GPU practice gains.

CPU (the default; tiny random-weight LTX-Video keyframe pipeline, same run, medians):
  racines:  `racines render --profile final --shot s010` in-process: load and validate the project,
            resolve and check the model folder, cache key, load the pipeline, generate, retime and
            fit to the film, encode the take (lossless + ProRes), thumbnails, manifest, atomic rename.
  plain:    the same components loaded with `LTXConditionPipeline.from_pretrained`, called with the
            same inputs, seed and steps, then the same uint8 conversion, resize and the same encode
            (racines' lossless + ProRes presets through one ffmpeg). The encode is included on both
            sides rather than subtracted: a script that wants the same files has to pay for it too.
  Both are timed in wall-clock seconds and in CPU seconds (this process and its ffmpeg children,
  from getrusage): on a machine shared with other jobs the wall clock swings by 2x from one run
  to the next, while the CPU time a run consumes stays put. Target: racines <= 1.05x the plain path.

GPU (--gpu; full-size architectures with random weights, which time like the real weights):
  SVD-XT 1024x576x25 and LTX-Video 2B 768x512x121, 25 steps each: seconds per clip, peak VRAM, and
  MFU against 989 TFLOP/s (dense BF16, H100 SXM), racines' generator against the model card's own
  call (RECIPES: SVD's fp16 variant in float16; LTX-Video, CogVideoX in bfloat16; Wan in bfloat16 with
  its VAE and image encoder in float32), with the same step count, size, inputs and seed. A plain
  float32 call would be a straw man: bf16 against fp32 measures the dtype, not racines. FLOPs are
  counted by torch's FlopCounterMode over a 1-step and a 2-step call. The target is parity (racines
  adds nothing); the speed settings of a final: block (speed:) are measured by bench/gpu_check.py.
  `--gpu --arch tiny` runs the same code on tiny models (on the CPU if there is no GPU) to check it.

    .venv/bin/python bench/bench_diffusion.py [--repeat 5] [--steps 8] [--size 96] [--frames 25]
    .venv/bin/python bench/bench_diffusion.py --gpu [--arch full|tiny] [--steps 25]
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

PROMPT = "her scarf unfolds into jasmine flowers"


def cpu_seconds() -> float:
    """CPU time used so far by this process and its waited-for children (the ffmpeg encoders)."""
    import resource

    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def timed(run) -> tuple[float, float]:
    wall, cpu = time.perf_counter(), cpu_seconds()
    run()
    return time.perf_counter() - wall, cpu_seconds() - cpu


def write_project(root: Path, final: str, frames: int, resolution: str) -> None:
    from tests.conftest import make_photos

    (root / "shots").mkdir(parents=True)
    make_photos(root / "shots" / "photos")
    (root / "shots" / "film.yaml").write_text(f"title: Bench\nframe_rate: 24\nresolution: {resolution}\ncut: [s010]\n")
    (root / "shots" / "s010.yaml").write_text(
        "source: {photo: photos/grid.png, contributor: Amina, consent: granted}\n"
        f"duration: {frames}\n"
        f"generator: {{kind: morph, prompt: {PROMPT}, seed: 7, target: photos/bloom.png}}\n"
        f"final: {final}\n")


# --- CPU: racines around a diffusers call ----------------------------------------------------


def cpu_bench(args) -> None:
    import numpy as np
    import torch

    from racines.film.images import fit, load_rgb
    from racines.generators.diffusion import runtime, tiny
    from racines.generators.diffusion.timing import to_uint8
    from racines.media import presets
    from racines.media.ffmpeg import FrameWriter, raw_input
    from racines.pipeline import load, make_takes

    work = Path(tempfile.mkdtemp(prefix="racines-bench-diffusion-"))
    hub = work / "hub"
    os.environ["HF_HUB_CACHE"] = str(hub)
    commit = tiny.into_hf_cache(tiny.ltx(), hub, "racines-tiny/ltx")
    folder = hub / "models--racines-tiny--ltx" / "snapshots" / commit
    size, frames, steps = args.size, args.frames, args.steps
    final = (f"{{kind: ltx, model: tiny-ltx, width: {size}, height: {size}, num_frames: {frames}, steps: {steps}, "
             "max_sequence_length: 16, fps: 24}")
    width, height = 256, 144
    root = work / "film"
    write_project(root, final, frames, f"{width}x{height}")
    (root / "models.yaml").write_text("models:\n  tiny-ltx: {repo: racines-tiny/ltx}\n")

    def racines_render() -> None:
        film = load(root, "final", models=True)
        make_takes(film, ["s010"])

    def fresh() -> None:
        runtime.release()  # load the pipeline each time, as the plain path does
        shutil.rmtree(root / "renders", ignore_errors=True)
        shutil.rmtree(work / "plain", ignore_errors=True)

    def plain_call() -> None:
        import diffusers
        from diffusers.pipelines.ltx.pipeline_ltx_condition import LTXVideoCondition
        from PIL import Image

        out_dir = work / "plain"
        out_dir.mkdir()
        pipe = diffusers.LTXConditionPipeline.from_pretrained(folder)
        pipe.set_progress_bar_config(disable=True)
        photo = Image.fromarray(fit(load_rgb(root / "shots/photos/grid.png"), size, size, "cover"))
        target = Image.fromarray(fit(load_rgb(root / "shots/photos/bloom.png"), size, size, "cover"))
        video = pipe(conditions=[LTXVideoCondition(image=photo, frame_index=0),
                                 LTXVideoCondition(image=target, frame_index=frames - 1)],
                     prompt=PROMPT, negative_prompt="", height=size, width=size, num_frames=frames, frame_rate=24,
                     num_inference_steps=steps, guidance_scale=3.0, decode_timestep=0.05,
                     image_cond_noise_scale=0.025, max_sequence_length=16,
                     generator=torch.Generator("cpu").manual_seed(7), output_type="np").frames[0]
        stream = raw_input(width, height, "24")
        graph = [stream.output(str(out_dir / "frames.mkv"), **presets.lossless_rgb()),
                 presets.to_bt709(stream, "yuv422p10le").output(str(out_dir / "clip.mov"),
                                                                **presets.prores_hq("00:00:00:00", "PLAIN"))]
        import ffmpeg

        with FrameWriter(ffmpeg.merge_outputs(*graph), "plain encode") as writer:
            for frame in video:
                writer.write(np.ascontiguousarray(fit(to_uint8(frame), width, height, "cover")))

    for run in (racines_render, plain_call):  # warm-up: imports, ffmpeg and file caches
        fresh()
        run()
    ours, theirs = [], []
    for _ in range(args.repeat):  # alternate, so that a busy neighbour slows both alike
        fresh()
        theirs.append(timed(plain_call))
        fresh()
        ours.append(timed(racines_render))
    from racines.takes.store import TakeStore

    run = TakeStore(root).latest("s010").manifest["generation"]["runs"][0]
    print(f"Diffusion overhead, CPU, tiny LTX-Video keyframe pipeline: {size}x{size}, {frames} frames, {steps} steps, "
          f"take {width}x{height}; median of {args.repeat}, alternating")
    for label, runs in (("plain diffusers (load + call + same encode)", theirs), ("racines render of the shot", ours)):
        print(f"  {label:<44} wall {statistics.median(w for w, _ in runs):7.3f} s   "
              f"CPU {statistics.median(c for _, c in runs):7.3f} s   "
              f"(wall runs: {', '.join(f'{w:.2f}' for w, _ in runs)})")
    print(f"    racines: pipeline load {run['load_s']:.3f} s, denoise+decode {run['denoise_and_decode_s']:.3f} s "
          "(wall, last run)")
    for label, index in (("CPU time", 1), ("wall clock", 0)):
        ratio = statistics.median(r[index] for r in ours) / statistics.median(r[index] for r in theirs)
        print(f"  ratio racines / plain, {label}: {ratio:.3f} (overhead {100 * (ratio - 1):+.1f} %; target <= +5 %)")
    print(f"  machine: {platform.node()}, {os.cpu_count()} CPUs, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads")
    shutil.rmtree(work, ignore_errors=True)


# --- GPU: full-size architectures, racines practice vs a plain default call -------------------


def full_svd_xt():
    """SVD-XT's architecture (the default UNet config is SVD's) with random weights."""
    from diffusers import (
        AutoencoderKLTemporalDecoder,
        EulerDiscreteScheduler,
        StableVideoDiffusionPipeline,
        UNetSpatioTemporalConditionModel,
    )
    from transformers import CLIPImageProcessor, CLIPVisionConfig, CLIPVisionModelWithProjection

    unet = UNetSpatioTemporalConditionModel()  # 320/640/1280/1280, 25 frames
    vae = AutoencoderKLTemporalDecoder(block_out_channels=(128, 256, 512, 512), layers_per_block=2,
                                       down_block_types=("DownEncoderBlock2D",) * 4, latent_channels=4)
    encoder = CLIPVisionModelWithProjection(CLIPVisionConfig(  # ViT-H/14
        hidden_size=1280, intermediate_size=5120, num_hidden_layers=32, num_attention_heads=16, patch_size=14,
        image_size=224, projection_dim=1024, hidden_act="gelu"))
    scheduler = EulerDiscreteScheduler(
        beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", interpolation_type="linear",
        num_train_timesteps=1000, prediction_type="v_prediction", sigma_max=700.0, sigma_min=0.002, steps_offset=1,
        timestep_spacing="leading", timestep_type="continuous", use_karras_sigmas=True)
    return StableVideoDiffusionPipeline(vae=vae, image_encoder=encoder, unet=unet, scheduler=scheduler,
                                        feature_extractor=CLIPImageProcessor(crop_size=224, size=224))


def full_ltx():
    """LTX-Video 2B's architecture (the default transformer and VAE configs are 0.9's), T5-XXL encoder."""
    from diffusers import (
        AutoencoderKLLTXVideo,
        FlowMatchEulerDiscreteScheduler,
        LTXConditionPipeline,
        LTXVideoTransformer3DModel,
    )
    from transformers import T5Config, T5EncoderModel

    from racines.generators.diffusion import tiny

    text = T5EncoderModel(T5Config(vocab_size=32128, d_model=4096, d_kv=64, d_ff=10240, num_layers=24, num_heads=64,
                                   feed_forward_proj="gated-gelu", relative_attention_num_buckets=32)).eval()
    return LTXConditionPipeline(transformer=LTXVideoTransformer3DModel(), vae=AutoencoderKLLTXVideo(),
                                scheduler=FlowMatchEulerDiscreteScheduler(), text_encoder=text,
                                tokenizer=tiny.tokenizer(128))  # a word-level stand-in: text cost is negligible


CASES = {  # name: (builder, tiny builder, kind, width, height, frames, fps)
    "SVD-XT": ("full_svd_xt", "svd", "svd", 1024, 576, 25, 7),
    "LTX-Video 2B": ("full_ltx", "ltx", "ltx", 768, 512, 121, 24),
}
TINY_SIZES = {"svd": (32, 32, 14), "ltx": (32, 32, 9)}
PEAK = 989.4e12  # H100 SXM dense BF16


# --- the baseline: each model card's own call ---------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Recipe:
    """How a model card loads its pipeline: the honest baseline for racines' own loading."""

    dtype: str                          # torch_dtype of from_pretrained
    variant: str | None = None          # the weights variant the card loads
    float32: tuple[str, ...] = ()       # components the card loads on their own in float32
    card: str = ""                      # where the recipe is written


#: family -> recipe, from each card's diffusers snippet (the same step count and size as racines)
RECIPES = {
    "svd": Recipe("float16", "fp16", card="stabilityai/stable-video-diffusion-img2vid-xt: "
                  "from_pretrained(..., torch_dtype=torch.float16, variant='fp16')"),
    "ltx": Recipe("bfloat16", card="Lightricks/LTX-Video (LTXConditionPipeline): torch_dtype=torch.bfloat16"),
    "wan": Recipe("bfloat16", float32=("vae", "image_encoder"),
                  card="Wan-AI/Wan2.1-FLF2V-14B-720P-diffusers, Wan2.1-I2V-14B-*-Diffusers: AutoencoderKLWan and "
                  "CLIPVisionModel from_pretrained(..., torch_dtype=torch.float32), the pipeline in torch.bfloat16"),
    "cogvideox": Recipe("bfloat16", card="THUDM/CogVideoX-5b-I2V: torch_dtype=torch.bfloat16"),
}


def family_of(kind: str) -> str:
    return "wan" if kind.startswith("wan") else kind


def model_card_pipeline(kind: str, folder: Path, on: str):
    """The pipeline in ``folder`` loaded as its model card loads it, then moved to ``on``. Read from
    the folder's model_index.json with diffusers and transformers alone (no racines code)."""
    import json

    import diffusers
    import torch
    import transformers

    recipe = RECIPES[family_of(kind)]
    index = json.loads((Path(folder) / "model_index.json").read_text())
    parts = {}
    for name in recipe.float32:
        library, cls = index[name]
        module = diffusers if library == "diffusers" else transformers
        parts[name] = getattr(module, cls).from_pretrained(folder, subfolder=name, dtype=torch.float32)
    variant = {"variant": recipe.variant} if recipe.variant else {}
    pipe = getattr(diffusers, index["_class_name"]).from_pretrained(
        folder, dtype=getattr(torch, recipe.dtype), use_safetensors=True, **variant, **parts)  # torch_dtype
    pipe.set_progress_bar_config(disable=True)
    return pipe.to(on)


def model_card_call(generator, shot, film, pipe) -> dict:
    """The card's call with racines' inputs: the same plan (size, frames, fps), steps, guidance and
    images, the same scheduler settings; seeded by the caller."""
    settings = shot.generator
    plan = generator.plan(settings, shot, film)
    generator.configure(pipe, settings, plan)
    images = generator.prepare(settings, plan, shot, film)
    return generator.call_kwargs(settings, plan, images, settings.prompt or "", settings.negative_prompt or "")


def save_as_shipped(pipe, hub: Path, repo: str, kind: str) -> str:
    """Save ``pipe`` into a Hugging Face cache layout as its repo ships it: SVD's fp16 variant files,
    LTX, Wan and CogVideoX in bfloat16 (Wan's VAE and image encoder in float32)."""
    import hashlib

    import torch

    recipe = RECIPES[family_of(kind)]
    pipe.to(getattr(torch, recipe.dtype))
    for name in recipe.float32:
        getattr(pipe, name).to(torch.float32)
    commit = hashlib.sha1(repo.encode()).hexdigest()
    base = hub / f"models--{repo.replace('/', '--')}"
    pipe.save_pretrained(base / "snapshots" / commit, safe_serialization=True,
                         **({"variant": recipe.variant} if recipe.variant else {}))
    (base / "refs").mkdir(parents=True, exist_ok=True)
    (base / "refs" / "main").write_text(commit)
    return commit


def gpu_bench(args) -> None:
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from racines.generators import get_generator
    from racines.generators.diffusion import runtime, tiny
    from racines.pipeline import load

    cuda = torch.cuda.is_available()
    if not cuda and args.arch == "full":
        sys.exit("no CUDA GPU here: the GPU benchmark needs one (--arch tiny checks the code on the CPU)")
    on = "cuda" if cuda else "cpu"
    work = Path(tempfile.mkdtemp(prefix="racines-bench-gpu-"))
    os.environ["HF_HUB_CACHE"] = str(work / "hub")
    print(f"GPU benchmark ({args.arch} architectures, {args.steps} steps) on "
          f"{torch.cuda.get_device_name() if cuda else 'the CPU'}, torch {torch.__version__}")
    if args.arch == "tiny":
        print("  (a check of this script's code on tiny models: the figures below measure nothing)")
    for name, (full, small, kind, width, height, frames, fps) in CASES.items():
        if args.arch == "tiny":
            width, height, frames = TINY_SIZES[small]
            pipe = tiny.BUILDERS[small]()
        else:
            with torch.device(on):  # random init on the GPU: minutes faster than on the CPU
                pipe = globals()[full]()
        recipe = RECIPES[family_of(kind)]
        repo = f"racines-bench/{small}"
        save_as_shipped(pipe, work / "hub", repo, kind)
        folder = work / "hub" / f"models--{repo.replace('/', '--')}" / "snapshots"
        folder = next(folder.iterdir())
        del pipe
        runtime.release()
        text = ", max_sequence_length: 16" if small == "ltx" else ""
        # on the CPU racines would run float32: ask for the card's dtype, so both sides compute alike
        precision = "" if cuda else f", precision: {recipe.dtype}"
        final = (f"{{kind: {kind}, model: bench, width: {width}, height: {height}, num_frames: {frames}, fps: {fps}, "
                 f"steps: {args.steps}{text}{precision}}}")
        root = work / small
        write_project(root, final, frames, "1024x576")
        variant = f", variant: {recipe.variant}" if recipe.variant else ""
        (root / "models.yaml").write_text(f"models:\n  bench: {{repo: {repo}{variant}}}\n")
        film = load(root, "final", models=True)
        shot = film.shots["s010"]
        generator = get_generator(kind)

        def with_steps(steps):
            settings = shot.generator.model_copy(update={"steps": steps})
            return dataclasses.replace(shot, generator=settings, final=settings)

        def ours(steps=args.steps):
            return generator.generate(with_steps(steps), film)

        results = {}
        for label in ("racines", "model card"):
            if label == "model card":
                runtime.release()
                pipe = model_card_pipeline(kind, folder, on)
                denoiser = getattr(pipe, "unet", None) or pipe.transformer
                print(f"  (the model card's call: {recipe.card}; denoiser in {next(denoiser.parameters()).dtype})")

                def call(steps=args.steps, pipe=pipe):
                    kwargs = model_card_call(generator, with_steps(steps), film, pipe)
                    return pipe(**kwargs, generator=torch.Generator("cpu").manual_seed(shot.generator.seed))
            else:
                call = ours
            call(1)  # warm-up (kernels, allocator)
            with FlopCounterMode(display=False) as one:
                call(1)
            with FlopCounterMode(display=False) as two:
                call(2)
            per_step = two.get_total_flops() - one.get_total_flops()
            flops = one.get_total_flops() - per_step + args.steps * per_step
            if cuda:
                torch.cuda.synchronize()
                torch.cuda.reset_peak_memory_stats()
            started = time.perf_counter()
            call()
            if cuda:
                torch.cuda.synchronize()
            seconds = time.perf_counter() - started
            peak = torch.cuda.max_memory_allocated() / 2**30 if cuda else float("nan")
            results[label] = (seconds, peak, flops)
            if label == "model card":
                del pipe, call
        print(f"{name} {width}x{height}x{frames}, {args.steps} steps:")
        for label, (seconds, peak, flops) in results.items():
            print(f"  {label:<10} {seconds:8.2f} s/clip  peak {peak:6.1f} GiB  {flops / 1e12:10.3f} TFLOP  "
                  f"MFU {100 * flops / seconds / PEAK:5.1f} %")
        print(f"  racines vs the model card's call: {results['model card'][0] / results['racines'][0]:.2f}x "
              "(same dtypes, steps and size: what racines' practice adds or costs)")
        runtime.release()
    shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--gpu", action="store_true", help="the GPU benchmark (full-size architectures)")
    parser.add_argument("--arch", choices=["full", "tiny"], default="full", help="with --gpu: tiny checks the code")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--steps", type=int, default=None, help="denoising steps (CPU: 8, GPU: 25)")
    parser.add_argument("--size", type=int, default=96, help="CPU: generation size (multiple of 32)")
    parser.add_argument("--frames", type=int, default=25, help="CPU: frames (8k+1)")
    args = parser.parse_args()
    if args.gpu:
        args.steps = args.steps or 25
        gpu_bench(args)
    else:
        args.steps = args.steps or 8
        cpu_bench(args)


if __name__ == "__main__":
    main()
