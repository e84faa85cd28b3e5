"""The built-in model names. A project's ``models.yaml`` adds names and overrides these.

Revisions are ``main`` here: racines resolves them offline to the commit found in the local
Hugging Face cache and records that commit in each take's cache key and manifest, so a newer
download makes the shots that use it stale. Pin a commit in ``models.yaml`` to freeze one.
Licences are those of the model cards when this list was written; the card in the
downloaded folder, when present, is what ``racines models`` shows.
"""

from __future__ import annotations

from racines.film.schema import ModelEntry, Native


def _entry(repo: str, licence: str, description: str, variant: str | None = None, library: str = "diffusers",
           **native) -> ModelEntry:
    return ModelEntry(repo=repo, revision="main", licence=licence, description=description, variant=variant,
                      library=library, native=Native(**native))


SVD_LICENCE = "other: Stability AI Community License (stable-video-diffusion-community)"
FLUX_LICENCE = "other: FLUX.1 [dev] Non-Commercial License"
#: FLUX.2 [dev]'s weights may not be used commercially without a licence from Black Forest Labs
FLUX2_LICENCE = "other: FLUX [dev] Non-Commercial License (non-commercial use only)"

BUILTIN: dict[str, ModelEntry] = {
    "svd": _entry("stabilityai/stable-video-diffusion-img2vid", SVD_LICENCE, "SVD, 14 frames",
                  variant="fp16", width=1024, height=576, frames=14, fps=7),
    "svd-xt": _entry("stabilityai/stable-video-diffusion-img2vid-xt", SVD_LICENCE, "SVD-XT, 25 frames",
                     variant="fp16", width=1024, height=576, frames=25, fps=7),
    "wan2.1-i2v-480p": _entry("Wan-AI/Wan2.1-I2V-14B-480P-Diffusers", "apache-2.0", "Wan 2.1 image-to-video 14B, 480p",
                              width=832, height=480, frames=81, fps=16),
    "wan2.1-i2v-720p": _entry("Wan-AI/Wan2.1-I2V-14B-720P-Diffusers", "apache-2.0", "Wan 2.1 image-to-video 14B, 720p",
                              width=1280, height=720, frames=81, fps=16),
    "wan2.1-flf2v-720p": _entry("Wan-AI/Wan2.1-FLF2V-14B-720P-diffusers", "apache-2.0",
                                "Wan 2.1 first+last frame 14B, 720p", width=1280, height=720, frames=81, fps=16),
    "wan2.2-i2v-a14b": _entry("Wan-AI/Wan2.2-I2V-A14B-Diffusers", "apache-2.0",
                              "Wan 2.2 image-to-video, two 14B experts", width=1280, height=720, frames=81, fps=16),
    "wan2.2-ti2v-5b": _entry("Wan-AI/Wan2.2-TI2V-5B-Diffusers", "apache-2.0", "Wan 2.2 text/image-to-video 5B",
                             width=1280, height=704, frames=121, fps=24),
    "ltx-video-0.9.5": _entry("Lightricks/LTX-Video-0.9.5", "other: LTX-Video Open Weights License",
                              "LTX-Video 2B, keyframes at any frame", width=768, height=512, frames=161, fps=24),
    "ltx-video-0.9.7-dev": _entry("Lightricks/LTX-Video-0.9.7-dev", "other: LTX-Video Open Weights License",
                                  "LTX-Video 13B", width=1216, height=704, frames=121, fps=24),
    "cogvideox-5b-i2v": _entry("THUDM/CogVideoX-5b-I2V", "other: CogVideoX License", "CogVideoX 5B image-to-video",
                               width=720, height=480, frames=49, fps=8),
    "cogvideox1.5-5b-i2v": _entry("THUDM/CogVideoX1.5-5B-I2V", "other: CogVideoX License",
                                  "CogVideoX 1.5 5B image-to-video", width=1360, height=768, frames=81, fps=16),
    "sd1.5": _entry("stable-diffusion-v1-5/stable-diffusion-v1-5", "creativeml-openrail-m",
                    "Stable Diffusion 1.5 (image-to-image)", width=512, height=512),
    "sdxl": _entry("stabilityai/stable-diffusion-xl-base-1.0", "openrail++", "SDXL base 1.0 (image-to-image)",
                   width=1024, height=1024),
    "flux-dev": _entry("black-forest-labs/FLUX.1-dev", FLUX_LICENCE, "FLUX.1 [dev] (image-to-image)",
                       width=1024, height=1024),
    "flux-kontext": _entry("black-forest-labs/FLUX.1-Kontext-dev", FLUX_LICENCE,
                           "FLUX.1 Kontext [dev] (instruction editing)", width=1024, height=1024),
    "sd1.5-inpainting": _entry("stable-diffusion-v1-5/stable-diffusion-inpainting", "creativeml-openrail-m",
                               "Stable Diffusion 1.5 inpainting (9-channel UNet)", width=512, height=512),
    "sdxl-inpainting": _entry("diffusers/stable-diffusion-xl-1.0-inpainting-0.1", "openrail++",
                              "SDXL 1.0 inpainting 0.1", width=1024, height=1024),
    "flux2-dev": _entry("black-forest-labs/FLUX.2-dev", FLUX2_LICENCE,
                        "FLUX.2 [dev] (editing with reference images; Mistral Small 3.1 text encoder); gated: "
                        "accept its licence on the model page and log in (hf auth login) before downloading",
                        width=1024, height=1024),
    "qwen2.5-0.5b-instruct": _entry("Qwen/Qwen2.5-0.5B-Instruct", "apache-2.0", "prompt enhancement (language model)",
                                    library="transformers"),
    # subtitles' machine drafts (racines subtitles transcribe / translate), never run unless asked
    "whisper-large-v3-turbo": _entry("openai/whisper-large-v3-turbo", "mit",
                                     "speech to text, 100 languages (Whisper large-v3 turbo, 128 mel bins)",
                                     library="transformers"),
    "whisper-small": _entry("openai/whisper-small", "apache-2.0", "speech to text, 99 languages (Whisper small: "
                            "quicker on a CPU, less accurate)", library="transformers"),
    "m2m100-418m": _entry("facebook/m2m100_418M", "mit", "translation between 100 languages (M2M100 418M)",
                          library="transformers"),
}
# A Marian pair (Helsinki-NLP/opus-mt-SRC-TGT, mostly Apache-2.0) is used for its pair when the
# film's models.yaml names it opus-mt-SRC-TGT. NLLB-200 translates 200 languages (Wolof, Kabyle,
# Fula, Tamazight...) but is CC-BY-NC-4.0 (non-commercial): only a film's models.yaml names it.
