"""Tiny random-weight pipelines of every family racines runs, built offline.

They have the real classes and code paths of the full models at a few thousand parameters:
the tests save them with ``save_pretrained`` into a folder or a Hugging Face cache layout and
render shots through racines' own model loading; the benchmark times racines around them.
The configurations follow diffusers' own tests, with a local word-level tokenizer in place of
the tiny tokenizers those tests download. Nothing here is used to make a film.

    from racines.generators.diffusion import tiny
    tiny.into_hf_cache(tiny.ltx(), cache_dir, "racines-tiny/ltx")   # then: repo: racines-tiny/ltx
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import torch

WORDS = ["<pad>", "</s>", "<unk>"] + ("a an the of and in into her his face old photo portrait photograph flowers "
                                      "flower jasmine rose bloom blooms dance scarf roots harbour light wind "
                                      "slowly camera negative blurry").split()


def tokenizer(max_length: int = 77):
    """A word-level tokenizer over :data:`WORDS` (unknown words map to <unk>)."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.WordLevel({w: i for i, w in enumerate(WORDS)}, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    return PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", eos_token="</s>", unk_token="<unk>",
                                   model_max_length=max_length)


def t5():
    from transformers import T5Config, T5EncoderModel

    torch.manual_seed(0)
    # eval(): a freshly built T5 is in training mode, and its dropout would make outputs random
    return T5EncoderModel(T5Config(vocab_size=64, d_model=32, d_kv=8, d_ff=37, num_layers=2, num_heads=4,
                                   relative_attention_num_buckets=8)).eval()


def clip_text(projection: bool = False, vocab_size: int = 64):
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    torch.manual_seed(0)
    config = CLIPTextConfig(bos_token_id=0, eos_token_id=1, hidden_size=32, intermediate_size=37,
                            layer_norm_eps=1e-05, num_attention_heads=4, num_hidden_layers=2, pad_token_id=0,
                            vocab_size=vocab_size, projection_dim=32)
    return (CLIPTextModelWithProjection if projection else CLIPTextModel)(config).eval()


def svd():
    from diffusers import (
        AutoencoderKLTemporalDecoder,
        EulerDiscreteScheduler,
        StableVideoDiffusionPipeline,
        UNetSpatioTemporalConditionModel,
    )
    from transformers import CLIPImageProcessor, CLIPVisionConfig, CLIPVisionModelWithProjection

    torch.manual_seed(0)
    unet = UNetSpatioTemporalConditionModel(
        block_out_channels=(32, 64), layers_per_block=1, sample_size=32, in_channels=8, out_channels=4,
        down_block_types=("CrossAttnDownBlockSpatioTemporal", "DownBlockSpatioTemporal"),
        up_block_types=("UpBlockSpatioTemporal", "CrossAttnUpBlockSpatioTemporal"), cross_attention_dim=32,
        num_attention_heads=2, projection_class_embeddings_input_dim=96, addition_time_embed_dim=32)
    scheduler = EulerDiscreteScheduler(
        beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", interpolation_type="linear",
        num_train_timesteps=1000, prediction_type="v_prediction", sigma_max=700.0, sigma_min=0.002, steps_offset=1,
        timestep_spacing="leading", timestep_type="continuous", trained_betas=None, use_karras_sigmas=True)
    torch.manual_seed(0)
    vae = AutoencoderKLTemporalDecoder(block_out_channels=[32, 64], in_channels=3, out_channels=3,
                                       down_block_types=["DownEncoderBlock2D", "DownEncoderBlock2D"], latent_channels=4)
    torch.manual_seed(0)
    # a PIL input is resized to 224 before CLIP, so the tiny encoder keeps image_size 224 (7x7 patches)
    encoder = CLIPVisionModelWithProjection(CLIPVisionConfig(
        hidden_size=32, projection_dim=32, num_hidden_layers=2, num_attention_heads=4, image_size=224,
        intermediate_size=37, patch_size=32)).eval()
    return StableVideoDiffusionPipeline(unet=unet, image_encoder=encoder, scheduler=scheduler, vae=vae,
                                        feature_extractor=CLIPImageProcessor(crop_size=224, size=224))


def wan(flf: bool = False):
    from diffusers import AutoencoderKLWan, FlowMatchEulerDiscreteScheduler, WanImageToVideoPipeline, WanTransformer3DModel
    from transformers import CLIPImageProcessor, CLIPVisionConfig, CLIPVisionModelWithProjection

    torch.manual_seed(0)
    vae = AutoencoderKLWan(base_dim=3, z_dim=16, dim_mult=[1, 1, 1, 1], num_res_blocks=1,
                           temperal_downsample=[False, True, True])
    torch.manual_seed(0)
    extra = {"pos_embed_seq_len": 2 * (4 * 4 + 1)} if flf else {}
    transformer = WanTransformer3DModel(
        patch_size=(1, 2, 2), num_attention_heads=2, attention_head_dim=12, in_channels=36, out_channels=16,
        text_dim=32, freq_dim=256, ffn_dim=32, num_layers=2, cross_attn_norm=True, qk_norm="rms_norm_across_heads",
        rope_max_seq_len=32, image_dim=4, **extra)
    size = 4 if flf else 32
    torch.manual_seed(0)
    encoder = CLIPVisionModelWithProjection(CLIPVisionConfig(
        hidden_size=4, projection_dim=4, num_hidden_layers=2, num_attention_heads=2, image_size=size,
        intermediate_size=16, patch_size=1)).eval()
    return WanImageToVideoPipeline(transformer=transformer, vae=vae, scheduler=FlowMatchEulerDiscreteScheduler(shift=7.0),
                                   text_encoder=t5(), tokenizer=tokenizer(), image_encoder=encoder,
                                   image_processor=CLIPImageProcessor(crop_size=size, size=size), transformer_2=None)


def wan22(boundary_ratio: float = 0.875):
    """Wan 2.2 A14B image-to-video: two experts (``transformer`` for the high-noise steps,
    ``transformer_2`` below ``boundary_ratio``), no CLIP image encoder."""
    from diffusers import AutoencoderKLWan, FlowMatchEulerDiscreteScheduler, WanImageToVideoPipeline, WanTransformer3DModel

    def expert(seed: int):
        torch.manual_seed(seed)
        return WanTransformer3DModel(
            patch_size=(1, 2, 2), num_attention_heads=2, attention_head_dim=12, in_channels=36, out_channels=16,
            text_dim=32, freq_dim=256, ffn_dim=32, num_layers=2, cross_attn_norm=True,
            qk_norm="rms_norm_across_heads", rope_max_seq_len=32)

    torch.manual_seed(0)
    vae = AutoencoderKLWan(base_dim=3, z_dim=16, dim_mult=[1, 1, 1, 1], num_res_blocks=1,
                           temperal_downsample=[False, True, True])
    return WanImageToVideoPipeline(transformer=expert(0), transformer_2=expert(1), vae=vae,
                                   scheduler=FlowMatchEulerDiscreteScheduler(shift=7.0), text_encoder=t5(),
                                   tokenizer=tokenizer(), image_encoder=None, image_processor=None,
                                   boundary_ratio=boundary_ratio)


def ltx_vae():
    """LTX-Video's VAE at 8 channels a block, 8 latent channels, patch size 1 (random weights)."""
    from diffusers import AutoencoderKLLTXVideo

    return AutoencoderKLLTXVideo(
        in_channels=3, out_channels=3, latent_channels=8, block_out_channels=(8, 8, 8, 8),
        decoder_block_out_channels=(8, 8, 8, 8), layers_per_block=(1, 1, 1, 1, 1),
        decoder_layers_per_block=(1, 1, 1, 1, 1), spatio_temporal_scaling=(True, True, False, False),
        decoder_spatio_temporal_scaling=(True, True, False, False), decoder_inject_noise=(False,) * 5,
        upsample_residual=(False,) * 4, upsample_factor=(1,) * 4, timestep_conditioning=False, patch_size=1,
        patch_size_t=1, encoder_causal=True, decoder_causal=False)

def ltx():
    from diffusers import FlowMatchEulerDiscreteScheduler, LTXConditionPipeline, LTXVideoTransformer3DModel

    torch.manual_seed(0)
    transformer = LTXVideoTransformer3DModel(in_channels=8, out_channels=8, patch_size=1, patch_size_t=1,
                                             num_attention_heads=4, attention_head_dim=8, cross_attention_dim=32,
                                             num_layers=1, caption_channels=32)
    torch.manual_seed(0)
    vae = ltx_vae()
    return LTXConditionPipeline(transformer=transformer, vae=vae, scheduler=FlowMatchEulerDiscreteScheduler(),
                                text_encoder=t5(), tokenizer=tokenizer())


def cogvideox():
    from diffusers import AutoencoderKLCogVideoX, CogVideoXImageToVideoPipeline, CogVideoXTransformer3DModel, DDIMScheduler

    torch.manual_seed(0)
    transformer = CogVideoXTransformer3DModel(
        num_attention_heads=2, attention_head_dim=16, in_channels=8, out_channels=4, time_embed_dim=2,
        text_embed_dim=32, num_layers=1, sample_width=2, sample_height=2, sample_frames=9, patch_size=2,
        temporal_compression_ratio=4, max_text_seq_length=16, use_rotary_positional_embeddings=True,
        use_learned_positional_embeddings=True)
    torch.manual_seed(0)
    vae = AutoencoderKLCogVideoX(in_channels=3, out_channels=3, down_block_types=("CogVideoXDownBlock3D",) * 4,
                                 up_block_types=("CogVideoXUpBlock3D",) * 4, block_out_channels=(8, 8, 8, 8),
                                 latent_channels=4, layers_per_block=1, norm_num_groups=2, temporal_compression_ratio=4)
    return CogVideoXImageToVideoPipeline(transformer=transformer, vae=vae, scheduler=DDIMScheduler(),
                                         text_encoder=t5(), tokenizer=tokenizer())


def sd():
    """Stable Diffusion (the keyframe generator loads it as image-to-image)."""
    from diffusers import AutoencoderKL, DDIMScheduler, StableDiffusionPipeline, UNet2DConditionModel

    torch.manual_seed(0)
    unet = UNet2DConditionModel(block_out_channels=(32, 64), layers_per_block=2, sample_size=32, in_channels=4,
                                out_channels=4, down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
                                up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"), cross_attention_dim=32)
    torch.manual_seed(0)
    vae = AutoencoderKL(block_out_channels=[32, 64], in_channels=3, out_channels=3,
                        down_block_types=["DownEncoderBlock2D"] * 2, up_block_types=["UpDecoderBlock2D"] * 2,
                        latent_channels=4)
    scheduler = DDIMScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", clip_sample=False,
                              set_alpha_to_one=False, steps_offset=1)
    return StableDiffusionPipeline(unet=unet, scheduler=scheduler, vae=vae, text_encoder=clip_text(),
                                   tokenizer=tokenizer(), safety_checker=None, feature_extractor=None,
                                   image_encoder=None, requires_safety_checker=False)


def flux_kontext():
    from diffusers import AutoencoderKL, FlowMatchEulerDiscreteScheduler, FluxKontextPipeline, FluxTransformer2DModel

    torch.manual_seed(0)
    transformer = FluxTransformer2DModel(patch_size=1, in_channels=4, num_layers=1, num_single_layers=1,
                                         attention_head_dim=16, num_attention_heads=2, joint_attention_dim=32,
                                         pooled_projection_dim=32, axes_dims_rope=[4, 4, 8])
    torch.manual_seed(0)
    vae = AutoencoderKL(sample_size=32, in_channels=3, out_channels=3, block_out_channels=(4,), layers_per_block=1,
                        latent_channels=1, norm_num_groups=1, use_quant_conv=False, use_post_quant_conv=False,
                        shift_factor=0.0609, scaling_factor=1.5035)
    return FluxKontextPipeline(scheduler=FlowMatchEulerDiscreteScheduler(), vae=vae, text_encoder=clip_text(),
                               tokenizer=tokenizer(77), text_encoder_2=t5(), tokenizer_2=tokenizer(512),
                               transformer=transformer, image_encoder=None, feature_extractor=None)


def clip_tokenizer(folder: Path | None = None):
    """A CLIPTokenizer (byte-level BPE) over :data:`WORDS`, as Stable Diffusion 1.x folders hold one:
    its vocab.json and merges.txt are written into ``folder`` (a temporary one by default)."""
    import json
    import tempfile

    from transformers import CLIPTokenizer

    folder = Path(folder or tempfile.mkdtemp(prefix="racines-clip-tokenizer-"))
    folder.mkdir(parents=True, exist_ok=True)
    # CLIP's BPE marks a word's end with </w>; whole words only, so no merges are needed past the letters
    vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1}
    letters = sorted({c for w in WORDS[3:] for c in w})
    for token in letters + [c + "</w>" for c in letters] + [w + "</w>" for w in WORDS[3:]]:
        vocab.setdefault(token, len(vocab))
    merges = []
    for word in WORDS[3:]:
        parts = list(word[:-1]) + [word[-1] + "</w>"]
        while len(parts) > 1:
            merges.append(f"{parts[0]} {parts[1]}")
            parts = [parts[0] + parts[1]] + parts[2:]
            vocab.setdefault(parts[0], len(vocab))
    (folder / "vocab.json").write_text(json.dumps(vocab))
    (folder / "merges.txt").write_text("#version: 0.2\n" + "\n".join(dict.fromkeys(merges)) + "\n")
    return CLIPTokenizer(str(folder / "vocab.json"), str(folder / "merges.txt"), pad_token="<|endoftext|>",
                         model_max_length=77)


def sd15(inpaint: bool = False):
    """A Stable Diffusion 1.5 folder as published: PNDM scheduler, CLIP tokenizer, the safety checker
    and its feature extractor (model_index.json lists them); ``inpaint``: the 9-channel inpainting UNet
    (latents, mask, masked image) of stable-diffusion-inpainting, as StableDiffusionInpaintPipeline."""
    from diffusers import (
        AutoencoderKL,
        PNDMScheduler,
        StableDiffusionInpaintPipeline,
        StableDiffusionPipeline,
        UNet2DConditionModel,
    )
    from diffusers.pipelines.stable_diffusion.safety_checker import StableDiffusionSafetyChecker
    from transformers import CLIPConfig, CLIPImageProcessor

    torch.manual_seed(0)
    unet = UNet2DConditionModel(block_out_channels=(32, 64), layers_per_block=2, sample_size=32,
                                in_channels=9 if inpaint else 4, out_channels=4,
                                down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
                                up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"), cross_attention_dim=32)
    torch.manual_seed(0)
    vae = AutoencoderKL(block_out_channels=[32, 64], in_channels=3, out_channels=3,
                        down_block_types=["DownEncoderBlock2D"] * 2, up_block_types=["UpDecoderBlock2D"] * 2,
                        latent_channels=4)
    scheduler = PNDMScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                              skip_prk_steps=True, set_alpha_to_one=False, steps_offset=1)
    torch.manual_seed(0)
    checker = StableDiffusionSafetyChecker(CLIPConfig(
        text_config=dict(hidden_size=16, intermediate_size=16, num_hidden_layers=1, num_attention_heads=2),
        vision_config=dict(hidden_size=16, intermediate_size=16, num_hidden_layers=1, num_attention_heads=2,
                           image_size=32, patch_size=16), projection_dim=16)).eval()
    cls = StableDiffusionInpaintPipeline if inpaint else StableDiffusionPipeline
    words = clip_tokenizer()
    return cls(unet=unet, scheduler=scheduler, vae=vae, text_encoder=clip_text(vocab_size=len(words)), tokenizer=words,
               safety_checker=checker, feature_extractor=CLIPImageProcessor(crop_size=32, size=32),
               image_encoder=None, requires_safety_checker=True)


#: FLUX.2's pipeline stacks these hidden states of its text encoder (``text_encoder_out_layers``)
FLUX2_TEXT_LAYERS = (10, 20, 30)


def mistral_tokenizer():
    """The word-level tokenizer with a chat template, as FLUX.2's pipeline formats its prompt as a
    conversation (system message, user prompt) through ``apply_chat_template``."""
    tok = tokenizer(512)
    tok.chat_template = ("{% for message in messages %}{% for part in message['content'] %}"
                         "{{ part['text'] }} {% endfor %}{% endfor %}")
    return tok


def flux2():
    """FLUX.2 [dev]'s Flux2Pipeline: its transformer, 32-channel-style VAE (here 1) and a Mistral 3
    text encoder deep enough for the layers the pipeline reads (10, 20, 30)."""
    from diffusers import AutoencoderKLFlux2, FlowMatchEulerDiscreteScheduler, Flux2Pipeline, Flux2Transformer2DModel
    from transformers import Mistral3Config, Mistral3ForConditionalGeneration

    hidden = 16
    torch.manual_seed(0)
    transformer = Flux2Transformer2DModel(patch_size=1, in_channels=4, num_layers=1, num_single_layers=1,
                                          attention_head_dim=16, num_attention_heads=2,
                                          joint_attention_dim=hidden * len(FLUX2_TEXT_LAYERS),
                                          timestep_guidance_channels=256, axes_dims_rope=[4, 4, 4, 4])
    config = Mistral3Config(
        text_config={"model_type": "mistral", "vocab_size": 64, "hidden_size": hidden, "intermediate_size": 37,
                     "max_position_embeddings": 1024, "num_attention_heads": 4,
                     "num_hidden_layers": max(FLUX2_TEXT_LAYERS), "num_key_value_heads": 2, "rms_norm_eps": 1e-05,
                     "rope_theta": 1000000000.0, "sliding_window": None, "bos_token_id": 2, "eos_token_id": 1,
                     "pad_token_id": 0},
        vision_config={"model_type": "pixtral", "hidden_size": 16, "num_hidden_layers": 1, "num_attention_heads": 4,
                       "intermediate_size": 37, "image_size": 30, "patch_size": 6, "num_channels": 3},
        bos_token_id=2, eos_token_id=1, pad_token_id=0, image_seq_length=4, vision_feature_layer=-1,
        image_token_index=2)
    torch.manual_seed(0)
    text_encoder = Mistral3ForConditionalGeneration(config).eval()
    torch.manual_seed(0)
    vae = AutoencoderKLFlux2(sample_size=32, in_channels=3, out_channels=3, down_block_types=("DownEncoderBlock2D",),
                             up_block_types=("UpDecoderBlock2D",), block_out_channels=(4,), layers_per_block=1,
                             latent_channels=1, norm_num_groups=1, use_quant_conv=False, use_post_quant_conv=False)
    return Flux2Pipeline(scheduler=FlowMatchEulerDiscreteScheduler(), vae=vae, text_encoder=text_encoder,
                         tokenizer=mistral_tokenizer(), transformer=transformer)


def language_model():
    """A causal language model and its tokenizer (for prompt enhancement): (model, tokenizer)."""
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    lm = LlamaForCausalLM(LlamaConfig(vocab_size=len(WORDS), hidden_size=16, intermediate_size=32,
                                      num_hidden_layers=1, num_attention_heads=2, num_key_value_heads=2,
                                      max_position_embeddings=512, pad_token_id=0, eos_token_id=1,
                                      bos_token_id=2)).eval()
    return lm, tokenizer(512)


BUILDERS = {"svd": svd, "wan-i2v": wan, "wan-flf2v": lambda: wan(flf=True), "wan22-i2v": wan22, "ltx": ltx,
            "cogvideox": cogvideox, "sd": sd, "flux-kontext": flux_kontext,
            "sd1.5": sd15, "sd1.5-inpaint": lambda: sd15(inpaint=True), "flux2": flux2}


def save(model, folder: Path) -> Path:
    """``save_pretrained`` a pipeline, or a (model, tokenizer) pair, in safetensors."""
    folder.mkdir(parents=True, exist_ok=True)
    parts = model if isinstance(model, tuple) else (model,)
    for part in parts:
        part.save_pretrained(folder)
    return folder


def into_hf_cache(model, cache: Path, repo: str) -> str:
    """Save as the Hugging Face cache holds a download of ``repo`` (snapshots/<commit>, refs/main);
    return the commit, a hash of the repo id."""
    commit = hashlib.sha1(repo.encode()).hexdigest()
    base = Path(cache) / f"models--{repo.replace('/', '--')}"
    save(model, base / "snapshots" / commit)
    (base / "refs").mkdir(parents=True, exist_ok=True)
    (base / "refs" / "main").write_text(commit)
    return commit
