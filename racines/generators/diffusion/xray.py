"""The X-ray of a generation: a contact strip of the latents every N denoising steps, as the image
emerges from the noise, kept with the take (``xray.png``).

It hangs on the pipeline's ``callback_on_step_end`` (every pipeline racines runs has it in diffusers
0.42), returns the callback's tensors untouched, so that the take's pixels do not change, and
previews the first latent frame without the VAE: a linear latent->RGB map per latent channel
(ComfyUI's "Latent2RGB" factors, ``comfy/latent_formats.py``: SD 1.x for 4-channel latents, Wan 2.1
for Wan's 16), or, for a latent space without published factors, the channels averaged in three
groups and stretched to their range ("channel-groups"). The preview is 1/8 of the image's size
(one pixel per latent pixel), enlarged without smoothing. It shows the noisy latent x_t of each step,
not the model's clean estimate.
"""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np
from PIL import Image

# comfyanonymous/ComfyUI comfy/latent_formats.py, class SD15 (latent_rgb_factors; no bias)
SD15_RGB = [[0.3512, 0.2297, 0.3227], [0.3250, 0.4974, 0.2350], [-0.2829, 0.1762, 0.2721],
            [-0.2120, -0.2616, -0.7177]]
# the same file, class Wan21 (latent_rgb_factors and latent_rgb_factors_bias)
WAN21_RGB = [[-0.1299, -0.1692, 0.2932], [0.0671, 0.0406, 0.0442], [0.3568, 0.2548, 0.1747],
             [0.0372, 0.2344, 0.1420], [0.0313, 0.0189, -0.0328], [0.0296, -0.0956, -0.0665],
             [-0.3477, -0.4059, -0.2925], [0.0166, 0.1902, 0.1975], [-0.0412, 0.0267, -0.1364],
             [-0.1293, 0.0740, 0.1636], [0.0680, 0.3019, 0.1128], [0.0032, 0.0581, 0.0639],
             [-0.1251, 0.0927, 0.1699], [0.0060, -0.0633, 0.0005], [0.3477, 0.2275, 0.2950],
             [0.1984, 0.0913, 0.1861]]
WAN21_BIAS = [-0.1835, -0.0868, -0.3360]
#: pipeline class prefix -> (factors, bias, name) for latents of that many channels
FACTORS = {("StableDiffusion", 4): (SD15_RGB, None, "linear SD 1.x factors"),
           ("StableVideoDiffusion", 4): (SD15_RGB, None, "linear SD 1.x factors"),
           ("Wan", 16): (WAN21_RGB, WAN21_BIAS, "linear Wan 2.1 factors")}
TILE_HEIGHT = 96
GAP = 2
STRIP_NAME = "xray.png"


def _grid(tokens: int, width: int, height: int) -> tuple[int, int]:
    """Rows and columns of a packed latent's first frame from its token count and the image's aspect."""
    rows = max(1, round(math.sqrt(tokens * height / width)))
    while tokens % rows:
        rows -= 1
    return rows, tokens // rows


def first_frame(pipe, latents, width: int, height: int, frames: int):
    """The first latent frame as (C, H, W), from each pipeline's own layout."""
    name = type(pipe).__name__
    if latents.ndim == 4:                                   # (B, C, H, W): an image model
        return latents[0]
    if latents.ndim == 5:
        if name.startswith("Wan"):                          # (B, C, F, H, W)
            return latents[0, :, 0]
        return latents[0, 0]                                # SVD, CogVideoX: (B, F, C, H, W)
    # packed tokens (B, sequence, channels x patch): LTX (per frame), Flux (2x2 patches)
    sequence, depth = latents.shape[1], latents.shape[2]
    patch, per_frame = 1, sequence
    if name.startswith("LTX"):
        patch = getattr(pipe, "transformer_spatial_patch_size", 1) ** 2 * getattr(
            pipe, "transformer_temporal_patch_size", 1)
        count = (frames - 1) // getattr(pipe, "vae_temporal_compression_ratio", 8) + 1
        per_frame = sequence // max(1, count // getattr(pipe, "transformer_temporal_patch_size", 1))
    elif name.startswith("Flux") and not name.startswith("Flux2"):
        patch = 4
    rows, columns = _grid(per_frame, width, height)
    grid = latents[0, :rows * columns].reshape(rows, columns, depth // patch, patch)[..., 0]
    return grid.permute(2, 0, 1)


def to_rgb(frame, pipeline: str) -> tuple[np.ndarray, str]:
    """(C, H, W) latent -> (H, W, 3) uint8, and the method's name."""
    import torch

    channels = frame.shape[0]
    known = next((v for (prefix, count), v in FACTORS.items() if pipeline.startswith(prefix) and count == channels), None)
    pixels = frame.movedim(0, -1).float()
    if known:
        factors, bias, method = known
        rgb = torch.nn.functional.linear(pixels, torch.tensor(factors).T,
                                         torch.tensor(bias) if bias else None).clamp(-1, 1)
        rgb = (rgb + 1) / 2
    else:
        method = "channel-groups"
        groups = [pixels[..., i::3].mean(-1) if i < channels else pixels.mean(-1) for i in range(3)]
        rgb = torch.stack(groups, -1)
        low, high = rgb.min(), rgb.max()
        rgb = (rgb - low) / (high - low) if high > low else rgb * 0 + 0.5
    return (rgb.numpy() * 255).round().astype(np.uint8), method


class XRay:
    """A ``callback_on_step_end`` keeping a preview every ``every`` steps (and of the last step)."""

    def __init__(self, every: int, steps: int, width: int, height: int, frames: int = 1):
        self.every, self.steps, self.size, self.frames = every, steps, (width, height), frames
        self.tiles: list[tuple[int, float, np.ndarray]] = []
        self.stats: list[dict[str, Any]] = []
        self.method = ""
        self.seconds = 0.0

    def reset(self) -> None:
        """Before a retry: the strip is of the call that made the take."""
        self.tiles, self.stats, self.seconds = [], [], 0.0

    def wanted(self, step: int) -> bool:
        return (step + 1) % self.every == 0 or step + 1 == self.steps

    def __call__(self, pipe, step: int, timestep, tensors: dict) -> dict:
        # the loop's own length: a PNDM scheduler runs one step more than asked, img2img fewer
        self.steps = getattr(pipe, "_num_timesteps", None) or self.steps
        if not self.wanted(step):
            return tensors
        started = time.perf_counter()
        latents = tensors["latents"].detach()
        frame = first_frame(pipe, latents, *self.size, self.frames).float().cpu()
        rgb, self.method = to_rgb(frame, type(pipe).__name__)
        self.tiles.append((step, float(timestep), rgb))
        self.stats.append({"step": step, "timestep": round(float(timestep), 4),
                           "latent_mean": round(float(frame.mean()), 5), "latent_std": round(float(frame.std()), 5)})
        self.seconds += time.perf_counter() - started
        return tensors  # untouched: the loop pops "latents" from it

    def strip(self) -> Image.Image:
        """The tiles side by side, enlarged to :data:`TILE_HEIGHT` without smoothing."""
        tiles = []
        for _, _, rgb in self.tiles:
            scale = max(1, TILE_HEIGHT // rgb.shape[0])
            tiles.append(Image.fromarray(rgb).resize((rgb.shape[1] * scale, rgb.shape[0] * scale), Image.NEAREST))
        height = max(t.height for t in tiles)
        sheet = Image.new("RGB", (sum(t.width for t in tiles) + GAP * (len(tiles) - 1), height), (16, 16, 16))
        x = 0
        for tile in tiles:
            sheet.paste(tile, (x, 0))
            x += tile.width + GAP
        return sheet

    def record(self) -> dict[str, Any]:
        return {"every": self.every, "steps": self.steps, "tiles": len(self.tiles), "preview": self.method,
                "shows": "the noisy latent of each step, first frame", "strip": STRIP_NAME,
                "callback_s": round(self.seconds, 6), "per_step": self.stats}
