"""What one GPU does with racines' final profile, in under ten minutes, without model weights.

Full-size architectures with random weights (they time like the real ones) are built directly on
the GPU in bfloat16 (``torch.device("cuda")`` with bf16 as the default dtype: a 14B model never
passes through the CPU), one component at a time so that the largest fits alone:

  environment      the GPU, its dense bf16 peak (PEAKS, datasheet figures), library versions
  matmul           a bf16 8192^3 matrix product: the ceiling this GPU reaches in practice
  attention        each attention backend of diffusers' dispatcher at the real shapes (Wan 2.1 14B
                   FLF2V 1280x720x81, LTX-Video 768x512x121, SVD-XT 1024x576x25): ms, TFLOP/s, and the
                   largest difference from SDPA's output
  text_encoder     umT5-XXL (Wan) and T5-XXL (LTX-Video) on 512 and 128 tokens
  image_encoder    CLIP ViT-H/14 (Wan FLF2V: first and last frame; SVD-XT: the photograph)
  denoiser         one forward at full depth per attention backend (Wan: 75,600 tokens, LTX: 6,144;
                   SVD-XT's UNet, CFG batch 2), with model FLOPs (DiT: 2 P_tok L + 4 L^2 d layers, as in
                   performance.md; UNet: torch's FlopCounterMode) and MFU against the peak and the matmul
  vae_decode       the family's VAE on the clip's latents (Wan's in float32, as its model card does)
  racines_vs_card  a reduced-depth Wan FLF2V (full width, 2 blocks, 2-layer encoders, the full VAE)
                   saved in the Hugging Face cache layout and rendered through racines' own loading
                   and generator, against the model card's call on the same folder (bench_diffusion:
                   RECIPES): seconds per clip, peak memory, and the frames compared (bf16 rounding)

Every phase writes one JSON line per measurement as soon as it is made (flushed), so a run cut
short still reports what it reached; a phase that fails writes its error and the next one runs.
Times are CUDA events around the work (perf_counter on the CPU), after one warm-up call.

Configurations (full size) are diffusers' and transformers' defaults where those are the released
models (LTXVideoTransformer3DModel, AutoencoderKLLTXVideo: LTX-Video 0.9; UNetSpatioTemporalCondition-
Model: SVD; AutoencoderKLWan: Wan 2.1), else the configs of the Hugging Face repos:
Wan-AI/Wan2.1-FLF2V-14B-720P-diffusers transformer/config.json (40 layers, 40 heads x 128,
ffn 13824, image_dim 1280, added_kv_proj_dim 5120, pos_embed_seq_len 514), google/umt5-xxl and
google/t5-v1_1-xxl (24 layers, d_model 4096, d_ff 10240, 64 heads), laion CLIP ViT-H/14 (32 layers,
1280 wide, 16 heads, patch 14); see /work/shared/research/smoke/param_count.py for their counts.

    .venv/bin/python bench/gpu_check.py [--out gpu_check.jsonl] [--steps 4] [--backends native,_native_cudnn]
    .venv/bin/python bench/gpu_check.py --dry-run     # every phase at tiny sizes on the CPU (< 2 min)
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import gc
import json
import os
import platform
import sys
import tempfile
import time
import traceback
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch  # noqa: E402

#: dense bf16 tensor-core peaks, TFLOP/s (NVIDIA datasheets; sparse figures are twice these). The
#: first name found in torch.cuda.get_device_name() wins, so the more specific names come first.
PEAKS = [("H100 PCIe", 756.0), ("H100 NVL", 835.0), ("H100", 989.4), ("H200", 989.4), ("GH200", 989.4),
         ("B200", 2250.0), ("A100", 312.0), ("L40S", 362.1), ("L4", 121.0), ("RTX 4090", 165.2), ("A10", 125.0)]
BACKENDS = ["native", "_native_cudnn", "_native_flash", "_native_efficient", "_flash_3", "flash", "sage"]


class Report:
    """JSON lines on stdout (and a file), flushed after each: a run cut short keeps what it made."""

    def __init__(self, out: Path | None):
        self.file = open(out, "a", encoding="utf-8") if out else None

    def __call__(self, phase: str, **fields) -> None:
        line = json.dumps({"phase": phase, **fields}, default=str)
        print(line, flush=True)
        if self.file:
            self.file.write(line + "\n")
            self.file.flush()


@dataclasses.dataclass
class Check:
    dry: bool
    on: str
    dtype: torch.dtype
    report: Report
    backends: list[str]
    steps: int

    @property
    def cuda(self) -> bool:
        return self.on == "cuda"

    def timed(self, run, repeat: int = 1) -> float:
        """Seconds per call of ``run`` after one warm-up call: CUDA events on the GPU."""
        run()
        if not self.cuda:
            started = time.perf_counter()
            for _ in range(repeat):
                run()
            return (time.perf_counter() - started) / repeat
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        torch.cuda.synchronize()
        start.record()
        for _ in range(repeat):
            run()
        end.record()
        torch.cuda.synchronize()
        return start.elapsed_time(end) / 1000 / repeat

    def memory(self) -> dict:
        if not self.cuda:
            return {"peak_allocated_gib": None, "peak_reserved_gib": None}
        return {"peak_allocated_gib": round(torch.cuda.max_memory_allocated() / 2**30, 2),
                "peak_reserved_gib": round(torch.cuda.max_memory_reserved() / 2**30, 2)}

    def fresh(self) -> None:
        gc.collect()
        if self.cuda:
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats()

    @contextlib.contextmanager
    def building(self):
        """Random weights made where they run, in the run's dtype (never a float32 copy on the CPU)."""
        before = torch.get_default_dtype()
        torch.set_default_dtype(self.dtype)
        try:
            with torch.device(self.on), torch.no_grad():
                yield
        finally:
            torch.set_default_dtype(before)


def peak_tflops(name: str) -> float | None:
    return next((peak for key, peak in PEAKS if key in name), None)


# --- architectures -------------------------------------------------------------------------------


def wan_transformer(dry: bool, layers: int | None = None):
    from diffusers import WanTransformer3DModel

    if dry:
        return WanTransformer3DModel(patch_size=(1, 2, 2), num_attention_heads=2, attention_head_dim=12, in_channels=36,
                                     out_channels=16, text_dim=32, freq_dim=256, ffn_dim=32, num_layers=layers or 2,
                                     cross_attn_norm=True, qk_norm="rms_norm_across_heads", rope_max_seq_len=32,
                                     image_dim=4, pos_embed_seq_len=2 * (4 * 4 + 1))
    return WanTransformer3DModel(patch_size=(1, 2, 2), num_attention_heads=40, attention_head_dim=128, in_channels=36,
                                 out_channels=16, text_dim=4096, freq_dim=256, ffn_dim=13824, num_layers=layers or 40,
                                 cross_attn_norm=True, qk_norm="rms_norm_across_heads", eps=1e-6, image_dim=1280,
                                 added_kv_proj_dim=5120, pos_embed_seq_len=514)


def t5_encoder(dry: bool, umt5: bool, layers: int | None = None):
    from transformers import T5Config, T5EncoderModel, UMT5Config, UMT5EncoderModel

    config, model = (UMT5Config, UMT5EncoderModel) if umt5 else (T5Config, T5EncoderModel)
    if dry:
        return model(config(vocab_size=64, d_model=32, d_kv=8, d_ff=37, num_layers=layers or 2, num_heads=4,
                            feed_forward_proj="gated-gelu")).eval()
    return model(config(vocab_size=256384 if umt5 else 32128, d_model=4096, d_kv=64, d_ff=10240,
                        num_layers=layers or 24, num_heads=64, feed_forward_proj="gated-gelu")).eval()


def clip_vision(dry: bool, projection: bool, layers: int | None = None):
    from transformers import CLIPVisionConfig, CLIPVisionModel, CLIPVisionModelWithProjection

    cls = CLIPVisionModelWithProjection if projection else CLIPVisionModel
    if dry:
        return cls(CLIPVisionConfig(hidden_size=4, projection_dim=4, num_hidden_layers=layers or 2, num_attention_heads=2,
                                    image_size=4, intermediate_size=16, patch_size=1)).eval()
    return cls(CLIPVisionConfig(hidden_size=1280, intermediate_size=5120, num_hidden_layers=layers or 32,
                                num_attention_heads=16, patch_size=14, image_size=224, projection_dim=1024,
                                hidden_act="gelu")).eval()


def wan_vae(dry: bool):
    from diffusers import AutoencoderKLWan

    if dry:
        return AutoencoderKLWan(base_dim=3, z_dim=16, dim_mult=[1, 1, 1, 1], num_res_blocks=1,
                                temperal_downsample=[False, True, True])
    return AutoencoderKLWan()


def ltx_transformer(dry: bool):
    from diffusers import LTXVideoTransformer3DModel

    if dry:
        return LTXVideoTransformer3DModel(in_channels=8, out_channels=8, patch_size=1, patch_size_t=1,
                                          num_attention_heads=4, attention_head_dim=8, cross_attention_dim=32,
                                          num_layers=2, caption_channels=32)
    return LTXVideoTransformer3DModel()


def ltx_vae(dry: bool):
    from diffusers import AutoencoderKLLTXVideo

    from racines.generators.diffusion import tiny

    if dry:
        return tiny.ltx_vae()
    return AutoencoderKLLTXVideo()


def svd_unet(dry: bool):
    from diffusers import UNetSpatioTemporalConditionModel

    if dry:
        return UNetSpatioTemporalConditionModel(
            block_out_channels=(32, 64), layers_per_block=1, sample_size=32, in_channels=8, out_channels=4,
            down_block_types=("CrossAttnDownBlockSpatioTemporal", "DownBlockSpatioTemporal"),
            up_block_types=("UpBlockSpatioTemporal", "CrossAttnUpBlockSpatioTemporal"), cross_attention_dim=32,
            num_attention_heads=2, projection_class_embeddings_input_dim=96, addition_time_embed_dim=32)
    return UNetSpatioTemporalConditionModel()


def svd_vae(dry: bool):
    from diffusers import AutoencoderKLTemporalDecoder

    if dry:
        return AutoencoderKLTemporalDecoder(block_out_channels=[32, 64], in_channels=3, out_channels=3,
                                            down_block_types=["DownEncoderBlock2D"] * 2, latent_channels=4)
    return AutoencoderKLTemporalDecoder(block_out_channels=(128, 256, 512, 512), layers_per_block=2,
                                        down_block_types=("DownEncoderBlock2D",) * 4, latent_channels=4)


@dataclasses.dataclass(frozen=True)
class Shape:
    """A clip's size at generation and the latent it becomes."""

    width: int
    height: int
    frames: int
    temporal: int   # VAE strides
    spatial: int
    patch: int      # the transformer's spatial patch (1 for LTX, whose VAE patchifies)

    @property
    def latent(self) -> tuple[int, int, int]:
        return ((self.frames - 1) // self.temporal + 1, self.height // self.spatial, self.width // self.spatial)

    @property
    def tokens(self) -> int:
        t, h, w = self.latent
        return t * (h // self.patch) * (w // self.patch)


SHAPES = {  # full size, dry run
    "wan-flf2v-720p": (Shape(1280, 720, 81, 4, 8, 2), Shape(32, 32, 9, 4, 8, 2)),
    "ltx-768x512": (Shape(768, 512, 121, 8, 32, 1), Shape(64, 64, 9, 4, 8, 1)),
    "svd-xt-1024x576": (Shape(1024, 576, 25, 1, 8, 1), Shape(32, 32, 3, 1, 4, 1)),
}


def shape(check: Check, name: str) -> Shape:
    return SHAPES[name][1 if check.dry else 0]


# --- FLOPs ---------------------------------------------------------------------------------------


def dit_flops(model, tokens: int) -> dict:
    """Model FLOPs of one transformer forward: 2 P_tok L (every per-token linear layer, text-only K/V
    projections of cross-attention left out) + 4 L^2 d per self-attention layer (QK^T and AV)."""
    per_token, layers, width = 0, 0, 0
    for name, module in model.named_modules():
        if name.endswith("attn1") and hasattr(module, "to_q"):
            layers += 1
            width = module.to_q.out_features
        if isinstance(module, torch.nn.Linear) and ".blocks." in f".{name}".replace("transformer_blocks", "blocks"):
            if not any(k in name for k in ("attn2.to_k", "attn2.to_v", "add_k_proj", "add_v_proj")):
                per_token += module.weight.numel()
    linear, attention = 2 * per_token * tokens, 4 * tokens * tokens * width * layers
    return {"flops": linear + attention, "attention_share": round(attention / (linear + attention), 3),
            "per_token_params": per_token, "tokens": tokens}


def utilisation(check: Check, flops: float, seconds: float, ceiling: dict) -> dict:
    achieved = flops / seconds / 1e12
    out = {"tflops": round(achieved, 4)}
    if ceiling.get("peak_tflops"):
        out["mfu_peak"] = round(achieved / ceiling["peak_tflops"], 3)
    if ceiling.get("matmul_tflops"):
        out["mfu_matmul"] = round(achieved / ceiling["matmul_tflops"], 3)
    return out


# --- phases --------------------------------------------------------------------------------------


def environment(check: Check, ceiling: dict) -> None:
    import diffusers
    import transformers

    name = torch.cuda.get_device_name() if check.cuda else platform.processor() or platform.machine()
    ceiling["peak_tflops"] = peak_tflops(name) if check.cuda else None
    check.report("environment", device=name, cuda=check.cuda, dry_run=check.dry, dtype=str(check.dtype),
                 peak_tflops=ceiling["peak_tflops"], torch=torch.__version__, diffusers=diffusers.__version__,
                 transformers=transformers.__version__,
                 capability=list(torch.cuda.get_device_capability()) if check.cuda else None)


def matmul(check: Check, ceiling: dict) -> None:
    n = 256 if check.dry else 8192
    a = torch.randn(n, n, device=check.on, dtype=check.dtype)
    b = torch.randn(n, n, device=check.on, dtype=check.dtype)
    seconds = check.timed(lambda: a @ b, repeat=3 if check.dry else 20)
    ceiling["matmul_tflops"] = 2 * n**3 / seconds / 1e12
    check.report("matmul", n=n, dtype=str(check.dtype), seconds=seconds, tflops=round(ceiling["matmul_tflops"], 4))


ATTENTION_CASES = {  # name: (batch, heads, head_dim) as the model runs it; tokens from the shape
    "wan-flf2v-720p": (1, 40, 128),     # one forward (Wan runs its two guidance passes one after the other)
    "ltx-768x512": (2, 32, 64),         # conditional and unconditional together
    "svd-xt-1024x576": (50, 5, 64),     # spatial attention of the first level: 2 x 25 frames of 128x72
}


def attention(check: Check, ceiling: dict) -> None:
    from diffusers.models.attention_dispatch import (
        AttentionBackendName,
        _check_attention_backend_requirements,
        dispatch_attention_fn,
    )

    def one_case(case: str, batch: int, heads: int, dim: int) -> None:
        s = shape(check, case)
        tokens = s.latent[1] * s.latent[2] if case.startswith("svd") else s.tokens  # SVD: per frame
        if check.dry:
            batch, heads, dim = min(batch, 2), 2, 16
        q, k, v = (torch.randn(batch, tokens, heads, dim, device=check.on, dtype=check.dtype) for _ in range(3))
        flops = 4 * batch * heads * tokens * tokens * dim
        reference, results = None, {}
        for name in check.backends:
            try:
                backend = AttentionBackendName(name)
                _check_attention_backend_requirements(backend)
                run = lambda backend=backend: dispatch_attention_fn(q, k, v, backend=backend)  # noqa: E731
                out = run()
                seconds = check.timed(run, repeat=1 if check.dry else 5)
                if reference is None:
                    reference = out.float()
                results[name] = {"ms": round(seconds * 1000, 3), **utilisation(check, flops, seconds, ceiling),
                                 "max_diff_vs_first": float((out.float() - reference).abs().max())}
            except Exception as exc:  # noqa: BLE001 - a backend this machine lacks: said, not fatal
                results[name] = {"skipped": f"{type(exc).__name__}: {str(exc)[:200]}"}
        check.report("attention", case=case, batch=batch, heads=heads, head_dim=dim, tokens=tokens, flops=flops,
                     backends=results)

    for case, (batch, heads, dim) in ATTENTION_CASES.items():
        one_case(case, batch, heads, dim)  # its tensors are freed when it returns
        check.fresh()


def timed_component(check: Check, phase: str, family: str, build, run, **extra) -> None:
    def measure() -> None:
        started = time.perf_counter()
        with check.building():
            model = build()
        built = time.perf_counter() - started
        with torch.no_grad():
            seconds = check.timed(lambda: run(model))
        params = sum(p.numel() for p in model.parameters())
        check.report(phase, family=family, seconds=seconds, build_s=round(built, 2), params=params, **extra,
                     **check.memory())

    check.fresh()
    measure()  # the model is freed when it returns
    check.fresh()


def text_encoders(check: Check, ceiling: dict) -> None:
    for family, umt5, tokens in (("wan", True, 512), ("ltx", False, 128)):
        tokens = 16 if check.dry else tokens
        ids = torch.randint(0, 64 if check.dry else 32000, (1, tokens), device=check.on)
        timed_component(check, "text_encoder", family, lambda umt5=umt5: t5_encoder(check.dry, umt5),
                        lambda model, ids=ids: model(input_ids=ids), tokens=tokens)


def image_encoders(check: Check, ceiling: dict) -> None:
    size = 4 if check.dry else 224
    for family, projection, count in (("wan", False, 2), ("svd", True, 1)):
        pixels = torch.randn(count, 3, size, size, device=check.on, dtype=check.dtype)
        timed_component(check, "image_encoder", family, lambda projection=projection: clip_vision(check.dry, projection),
                        lambda model, pixels=pixels: model(pixel_values=pixels), images=count)


def denoiser_inputs(check: Check, family: str, model) -> tuple[dict, Shape]:
    config, on, dtype = model.config, check.on, check.dtype
    if family == "wan":
        s = shape(check, "wan-flf2v-720p")
        t, h, w = s.latent
        # FLF2V: the first and last frames' CLIP tokens, which the model joins into one sequence
        images = (config.pos_embed_seq_len or 514) // 2
        return dict(hidden_states=torch.randn(1, config.in_channels, t, h, w, device=on, dtype=dtype),
                    timestep=torch.tensor([500], device=on),
                    encoder_hidden_states=torch.randn(1, 16 if check.dry else 512, config.text_dim, device=on, dtype=dtype),
                    encoder_hidden_states_image=torch.randn(2, images, config.image_dim, device=on, dtype=dtype),
                    return_dict=False), s
    if family == "ltx":
        s = shape(check, "ltx-768x512")
        t, h, w = s.latent
        text = 16 if check.dry else 128
        return dict(hidden_states=torch.randn(2, t * h * w, config.in_channels, device=on, dtype=dtype),
                    encoder_hidden_states=torch.randn(2, text, config.caption_channels, device=on, dtype=dtype),
                    timestep=torch.tensor([500, 500], device=on), encoder_attention_mask=torch.ones(2, text, device=on),
                    num_frames=t, height=h, width=w, rope_interpolation_scale=(s.temporal / 24, s.spatial, s.spatial),
                    return_dict=False), s
    s = shape(check, "svd-xt-1024x576")
    _, h, w = s.latent
    return dict(sample=torch.randn(2, s.frames, config.in_channels, h, w, device=on, dtype=dtype),
                timestep=torch.tensor([1.0], device=on),
                encoder_hidden_states=torch.randn(2, 1, config.cross_attention_dim, device=on, dtype=dtype),
                added_time_ids=torch.tensor([[6.0, 127.0, 0.02]] * 2, device=on, dtype=dtype), return_dict=False), s


def denoisers(check: Check, ceiling: dict) -> None:
    from torch.utils.flop_counter import FlopCounterMode

    from racines.generators.diffusion import speed

    def one_family(family: str, build) -> None:
        started = time.perf_counter()
        with check.building():
            model = build(check.dry).eval()
        built = time.perf_counter() - started
        inputs, s = denoiser_inputs(check, family, model)
        if family == "svd":
            with torch.no_grad(), FlopCounterMode(display=False) as counter:
                model(**inputs)
            counted = {"flops": counter.get_total_flops(), "counted_by": "FlopCounterMode"}
        else:
            counted = dit_flops(model, s.tokens)
        offered = {v: k for k, v in speed.ATTENTION.items()}  # the kernels a final: block can choose
        for name in [b for b in check.backends if b in offered] if family != "svd" else ["native"]:
            try:
                if family != "svd":  # SVD's UNet processors call SDPA themselves
                    speed.set_attention(model, offered[name])
                check.fresh()
                with torch.no_grad():
                    seconds = check.timed(lambda: model(**inputs))
                check.report("denoiser", family=family, backend=name, width=s.width, height=s.height,
                             frames=s.frames, seconds=seconds, build_s=round(built, 2),
                             params=sum(p.numel() for p in model.parameters()), **counted,
                             **utilisation(check, counted["flops"], seconds, ceiling), **check.memory())
            except Exception as exc:  # noqa: BLE001 - a backend this machine lacks
                check.report("denoiser", family=family, backend=name, skipped=f"{type(exc).__name__}: {str(exc)[:200]}")

    for family, build in (("wan", wan_transformer), ("ltx", ltx_transformer), ("svd", svd_unet)):
        check.fresh()
        one_family(family, build)  # the model is freed when it returns
        check.fresh()


def vae_decodes(check: Check, ceiling: dict) -> None:
    for family, build, case, dtype in (("wan", wan_vae, "wan-flf2v-720p", torch.float32),
                                       ("ltx", ltx_vae, "ltx-768x512", check.dtype),
                                       ("svd", svd_vae, "svd-xt-1024x576", check.dtype)):
        s = shape(check, case)
        t, h, w = s.latent
        channels = {"wan": 16, "ltx": 8 if check.dry else 128, "svd": 4}[family]
        if family == "svd":  # 8 frames at a time, as SVD-XT's model card decodes (decode_chunk_size=8)
            latents = torch.randn(s.frames, channels, h, w, device=check.on, dtype=dtype)
            run = lambda vae, z=latents: [vae.decode(c, num_frames=len(c)) for c in z.split(8)]  # noqa: E731
        else:
            latents = torch.randn(1, channels, t, h, w, device=check.on, dtype=dtype)
            run = lambda vae, z=latents: vae.decode(z)  # noqa: E731

        def build(build=build, dtype=dtype):
            return build(check.dry).to(dtype).eval()

        timed_component(check, "vae_decode", family, build, run, width=s.width, height=s.height, frames=s.frames,
                        dtype=str(dtype))


def racines_vs_card(check: Check, ceiling: dict) -> None:
    """A reduced-depth Wan FLF2V through racines (its loading, plan and call) and the model card's call."""
    import bench_diffusion
    import numpy as np
    from diffusers import FlowMatchEulerDiscreteScheduler, WanImageToVideoPipeline
    from transformers import CLIPImageProcessor

    from racines.generators import get_generator
    from racines.generators.diffusion import runtime, tiny
    from racines.pipeline import load

    work = Path(tempfile.mkdtemp(prefix="racines-gpu-check-"))
    os.environ["HF_HUB_CACHE"] = str(work / "hub")
    s = shape(check, "wan-flf2v-720p")
    if check.dry:
        s = dataclasses.replace(s, width=16, height=16)
    with check.building():
        size = 4 if check.dry else 224
        pipe = WanImageToVideoPipeline(
            transformer=wan_transformer(check.dry, layers=2), vae=wan_vae(check.dry),
            scheduler=FlowMatchEulerDiscreteScheduler(shift=5.0), text_encoder=t5_encoder(check.dry, True, layers=2),
            tokenizer=tiny.tokenizer(512), image_encoder=clip_vision(check.dry, False, layers=2),
            image_processor=CLIPImageProcessor(crop_size=size, size=size), transformer_2=None)
    bench_diffusion.save_as_shipped(pipe, work / "hub", "racines-check/wan-flf2v", "wan-flf2v")
    folder = next((work / "hub" / "models--racines-check--wan-flf2v" / "snapshots").iterdir())
    del pipe
    check.fresh()
    precision = "" if check.cuda else ", precision: bfloat16"  # racines on the CPU would otherwise run float32
    final = (f"{{kind: wan-flf2v, model: bench, width: {s.width}, height: {s.height}, num_frames: {s.frames}, "
             f"steps: {check.steps}, max_sequence_length: 16{precision}}}")
    root = work / "film"
    bench_diffusion.write_project(root, final, s.frames, "1280x720" if not check.dry else "64x64")
    (root / "models.yaml").write_text("models:\n  bench: {repo: racines-check/wan-flf2v}\n")
    film = load(root, "final", models=True)
    shot, generator = film.shots["s010"], get_generator("wan-flf2v")
    results = {}
    for label in ("racines", "model card"):
        runtime.release()
        check.fresh()
        started = time.perf_counter()
        if label == "racines":
            frames = generator.generate(shot, film).frames
            run = generator.report["runs"][0]
            load_s, call_s = run["load_s"], run["denoise_and_decode_s"]
        else:
            pipe = bench_diffusion.model_card_pipeline("wan-flf2v", folder, check.on)
            load_s = time.perf_counter() - started
            kwargs = bench_diffusion.model_card_call(generator, shot, film, pipe)
            called = time.perf_counter()
            frames = np.asarray(pipe(**kwargs, generator=torch.Generator("cpu").manual_seed(shot.generator.seed)).frames[0],
                                dtype=np.float32)
            if check.cuda:
                torch.cuda.synchronize()
            call_s = time.perf_counter() - called
            del pipe
        results[label] = (frames, {"load_s": round(load_s, 3), "call_s": round(call_s, 3), **check.memory()})
    runtime.release()
    ours, theirs = results["racines"][0], results["model card"][0]
    difference = float(np.abs(ours - theirs).max()) if ours.shape == theirs.shape else None
    check.report("racines_vs_card", family="wan-flf2v", layers=2, width=s.width, height=s.height, frames=s.frames,
                 steps=check.steps, racines=results["racines"][1], model_card=results["model card"][1],
                 card_recipe=bench_diffusion.RECIPES["wan"].card, max_frame_diff=difference,
                 frames_equal_within_bf16=difference is not None and difference <= 2**-7,
                 seconds_ratio=round(results["racines"][1]["call_s"] / max(results["model card"][1]["call_s"], 1e-9), 3))
    import shutil

    shutil.rmtree(work, ignore_errors=True)


PHASES = [("environment", environment), ("matmul", matmul), ("attention", attention),
          ("text_encoder", text_encoders), ("image_encoder", image_encoders), ("denoiser", denoisers),
          ("vae_decode", vae_decodes), ("racines_vs_card", racines_vs_card)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dry-run", action="store_true", help="every phase at tiny sizes on the CPU")
    parser.add_argument("--out", type=Path, help="also append the JSON lines to this file")
    parser.add_argument("--steps", type=int, default=4, help="denoising steps of the racines/model card phase")
    parser.add_argument("--backends", default=",".join(BACKENDS), help="attention backends to compare")
    parser.add_argument("--only", default="", help="comma-separated phases to run (default: all)")
    args = parser.parse_args()
    cuda = torch.cuda.is_available() and not args.dry_run
    if not cuda and not args.dry_run:
        sys.exit("no CUDA GPU here: run with --dry-run to check every phase on the CPU at tiny sizes")
    dtype = torch.bfloat16 if cuda else torch.float32  # bf16 convolutions crawl on the CPU
    backends = [b for b in args.backends.split(",") if b]
    check = Check(args.dry_run, "cuda" if cuda else "cpu", dtype, Report(args.out), backends, args.steps)
    ceiling: dict = {}
    only = {p for p in args.only.split(",") if p}
    started = time.perf_counter()
    for name, phase in PHASES:
        if only and name not in only and name != "environment":
            continue
        try:
            phase(check, ceiling)
        except Exception as exc:  # noqa: BLE001 - reported; the next phase still runs
            check.report(name, error=f"{type(exc).__name__}: {exc}", traceback=traceback.format_exc()[-2000:])
            check.fresh()
    check.report("done", seconds=round(time.perf_counter() - started, 1))


if __name__ == "__main__":
    main()
