"""Make the demo's archive photographs and flowers (run once; the results are committed).

Photographs: public-domain and CC0 sample images shipped inside the scikit-image wheel,
given the look of family-archive prints (sepia, faded blacks, vignette, grain).
Flowers: drawn here from polar petal curves, so the project owns them outright.
Origins and licences are listed in SOURCES.md beside this script.

    pip install scikit-image && python shots/make_demo_images.py
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

HERE = Path(__file__).parent
SIZE = (1280, 800)

PHOTOS = {  # output name: (skimage.data function, tint)
    "astronaut_1984.jpg": ("astronaut", "sepia"),
    "coffee_1962.jpg": ("coffee", "sepia"),
    "cat_1975.jpg": ("chelsea", "sepia"),
    "camera_1958.jpg": ("camera", "silver"),
    "rocket_1969.jpg": ("rocket", "sepia"),
}

FLOWERS = {  # output name: (petals, petal colour, centre colour, background, seed)
    "jasmine.jpg": (5, (250, 248, 240), (235, 200, 90), ((28, 60, 34), (8, 22, 12)), 1),
    "rose.jpg": (9, (196, 32, 58), (120, 10, 30), ((70, 24, 30), (14, 6, 8)), 2),
    "marigold.jpg": (13, (245, 150, 20), (160, 70, 10), ((40, 54, 20), (10, 14, 4)), 3),
    "iris.jpg": (6, (110, 80, 200), (240, 210, 70), ((24, 30, 60), (6, 8, 18)), 4),
}


def archive_look(rgb: np.ndarray, tint: str, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    img = rgb.astype(np.float32) / 255.0
    grey = img @ np.array([0.299, 0.587, 0.114], np.float32) if img.ndim == 3 else img
    grey = 0.08 + 0.84 * grey  # faded blacks, soft highlights
    h, w = grey.shape
    yy, xx = np.mgrid[0:h, 0:w]
    r = np.hypot((xx - w / 2) / (w / 2), (yy - h / 2) / (h / 2))
    grey = grey * (1.0 - 0.35 * np.clip(r - 0.45, 0, None) ** 1.5)
    grey = np.clip(grey + rng.normal(0, 0.025, grey.shape), 0, 1)
    tone = {"sepia": (1.07, 0.95, 0.78), "silver": (0.98, 0.99, 1.02)}[tint]
    out = np.stack([grey * tone[0], grey * tone[1], grey * tone[2]], axis=-1)
    return (np.clip(out, 0, 1) * 255 + 0.5).astype(np.uint8)


def cover(image: Image.Image, size: tuple[int, int]) -> Image.Image:
    scale = max(size[0] / image.width, size[1] / image.height)
    resized = image.resize((round(image.width * scale), round(image.height * scale)), Image.LANCZOS)
    left, top = (resized.width - size[0]) // 2, (resized.height - size[1]) // 2
    return resized.crop((left, top, left + size[0], top + size[1]))


def flower(petals: int, petal, centre, background, seed: int, size=SIZE) -> np.ndarray:
    rng = np.random.default_rng(seed)
    w, h = size
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    cx, cy = w * 0.5, h * 0.52
    radius = min(w, h) * 0.36
    dx, dy = (xx - cx) / radius, (yy - cy) / radius
    r, theta = np.hypot(dx, dy), np.arctan2(dy, dx)
    bg_near, bg_far = np.array(background[0], np.float32), np.array(background[1], np.float32)
    fade = np.clip(r / 2.2, 0, 1)[..., None]
    image = bg_near * (1 - fade) + bg_far * fade
    # two layers of petals, the inner one turned by half a petal
    for layer, (scale, turn, shade) in enumerate(((1.0, 0.0, 1.0), (0.62, np.pi / petals, 0.86))):
        wobble = 1 + 0.06 * np.sin(3 * theta + seed + layer)
        edge = scale * (0.55 + 0.45 * np.abs(np.cos(petals * (theta + turn) / 2)) ** 0.8) * wobble
        inside = np.clip((edge - r) / 0.03, 0, 1)[..., None]
        # veins and a soft radial gradient make the petals read as petals
        veins = 0.92 + 0.08 * np.cos(petals * 6 * (theta + turn))
        body = np.array(petal, np.float32) * shade * (0.78 + 0.22 * (r / np.maximum(edge, 1e-3)))[..., None]
        image = image * (1 - inside) + body * veins[..., None] * inside
    heart = np.clip((0.16 - r) / 0.03, 0, 1)[..., None]
    speckle = 1 + 0.12 * rng.standard_normal((h, w, 1)).astype(np.float32)
    image = image * (1 - heart) + np.array(centre, np.float32) * speckle * heart
    image += rng.normal(0, 2.0, image.shape)
    return np.clip(image + 0.5, 0, 255).astype(np.uint8)


def main() -> None:
    from skimage import data

    for seed, (name, (function, tint)) in enumerate(sorted(PHOTOS.items())):
        source = Image.fromarray(getattr(data, function)())
        fitted = np.asarray(cover(source.convert("RGB"), SIZE))
        Image.fromarray(archive_look(fitted, tint, seed)).save(HERE / "photos" / name, quality=88)
    for name, spec in FLOWERS.items():
        Image.fromarray(flower(*spec)).save(HERE / "flowers" / name, quality=90)


if __name__ == "__main__":
    main()
