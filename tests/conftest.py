"""Shared fixtures: a tiny film made on the fly, and a copy of the demo project."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

REPO = Path(__file__).resolve().parents[1]

# the helpers beside the tests (motion_fixtures) import as plain modules
sys.path.insert(0, str(Path(__file__).parent))

# One intra-op thread: the tests' tensors are small, and on a busy 2-core machine OpenMP's
# spinning threads cost more than they give (see racines.motion.warp.torch_threads).
torch.set_num_threads(1)

TINY_FILM = """\
title: Tiny Film
frame_rate: 24
resolution: 256x144
timecode_start: "01:00:00:00"
cut: [s010, s020, s030, s040]
"""

TINY_SHOTS = {
    "s010": """\
source: {photo: photos/grid.png, contributor: Amina, consent: granted, credit: The A. family}
duration: 24
generator:
  kind: kenburns
  seed: 7
  start: {x: 0.5, y: 0.5, zoom: 1.0}
  end: {x: 0.3, y: 0.3, zoom: 1.5}
transition: {dissolve: 6}
""",
    "s020": """\
source: {photo: photos/grid.png, contributor: Amina, consent: granted, credit: The A. family}
duration: 1s
generator: {kind: morph, target: photos/bloom.png, hold_start: 2, hold_end: 2}
transition: {dissolve: 4}
""",
    "s030": """\
source: {photo: photos/bloom.png, contributor: Bao, consent: granted}
duration: 12
generator: {kind: still}
""",
    "s040": """\
duration: 12
generator: {kind: credits, heading: Tiny}
""",
}


def make_photos(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    y, x = np.mgrid[0:200, 0:320]
    grid = np.stack([(x * 0.8) % 256, (y * 1.2) % 256, ((x // 20 + y // 20) % 2) * 200 + 30], -1)
    Image.fromarray(grid.astype(np.uint8)).save(folder / "grid.png")
    r = np.hypot(x - 160, y - 100)
    bloom = np.stack([np.clip(255 - r, 0, 255), np.clip(200 - r * 1.5, 0, 255), np.full_like(r, 60)], -1)
    Image.fromarray(bloom.astype(np.uint8)).save(folder / "bloom.png")


def write_tiny_project(root: Path, shots: dict[str, str] | None = None, film: str = TINY_FILM) -> Path:
    (root / "shots").mkdir(parents=True, exist_ok=True)
    make_photos(root / "shots" / "photos")
    (root / "shots" / "film.yaml").write_text(film)
    for shot_id, text in (shots or TINY_SHOTS).items():
        (root / "shots" / f"{shot_id}.yaml").write_text(text)
    return root


@pytest.fixture
def tiny_project(tmp_path: Path) -> Path:
    return write_tiny_project(tmp_path / "film")


@pytest.fixture(scope="session")
def rendered_tiny(tmp_path_factory) -> Path:
    """A tiny project rendered once by the CLI, shared by read-only tests."""
    root = write_tiny_project(tmp_path_factory.mktemp("rendered") / "film")
    from click.testing import CliRunner

    from racines.cli import main

    result = CliRunner().invoke(main, ["--project", str(root), "render"])
    assert result.exit_code == 0, result.output
    return root


@pytest.fixture
def demo_copy(tmp_path: Path) -> Path:
    """The repository's demo project (shots and photographs), copied so tests can break it."""
    root = tmp_path / "demo"
    shutil.copytree(REPO / "shots", root / "shots")
    return root


def tree_digest(folder: Path) -> dict[str, str]:
    """Every file under ``folder`` with its sha256: to show that nothing was touched."""
    if not folder.exists():
        return {}
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def ffprobe(path: Path, *entries: str, count_frames: bool = False) -> dict:
    args = ["ffprobe", "-v", "error", "-of", "json", "-show_streams", "-show_format"]
    if count_frames:
        args.append("-count_frames")
    out = subprocess.run([*args, str(path)], capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def video_stream(probe: dict) -> dict:
    return next(s for s in probe["streams"] if s["codec_type"] == "video")


def decode_frames(path: Path, pix_fmt: str, width: int, height: int) -> list[bytes]:
    """Every frame of a file as raw bytes, decoded by the same ffmpeg racines uses."""
    from racines.media.ffmpeg import ffmpeg_exe, frame_bytes

    raw = subprocess.run([ffmpeg_exe(), "-v", "error", "-i", str(path), "-f", "rawvideo", "-pix_fmt", pix_fmt,
                          "-fps_mode", "passthrough", "pipe:"], capture_output=True, check=True).stdout
    size = frame_bytes(width, height, pix_fmt)
    assert len(raw) % size == 0
    return [raw[i:i + size] for i in range(0, len(raw), size)]


# --- diffusion: tiny random-weight models in a Hugging Face cache layout ------------------

TINY_REPOS = {"svd": "svd", "wan-i2v": "wan-i2v", "wan-flf2v": "wan-flf2v", "ltx": "ltx", "cogvideox": "cogvideox",
              "sd": "sd", "flux-kontext": "flux-kontext", "lm": "lm"}

TINY_MODELS_YAML = """\
models:
  tiny-svd: {repo: racines-tiny/svd, licence: test-only}
  tiny-wan: {repo: racines-tiny/wan-i2v, licence: test-only}
  tiny-wan-flf: {repo: racines-tiny/wan-flf2v, licence: test-only}
  tiny-ltx: {repo: racines-tiny/ltx, licence: test-only}
  tiny-cog: {repo: racines-tiny/cogvideox, licence: test-only}
  tiny-sd: {repo: racines-tiny/sd, licence: test-only}
  tiny-kontext: {repo: racines-tiny/flux-kontext, licence: test-only}
  tiny-lm: {repo: racines-tiny/lm, licence: test-only, library: transformers}
"""


@contextmanager
def hf_cache_at(hub: Path) -> Iterator[Path]:
    """HF_HUB_CACHE pointed at ``hub`` for a fixture wider than one test (``monkeypatch`` is per test)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HF_HUB_CACHE", str(hub))
        yield hub


@pytest.fixture(scope="session")
def tiny_hub(tmp_path_factory) -> Path:
    """Every tiny pipeline saved once into a Hugging Face cache, which HF_HUB_CACHE points at."""

    from racines.generators.diffusion import tiny

    hub = tmp_path_factory.mktemp("hub")
    for name, repo in TINY_REPOS.items():
        build = tiny.language_model if name == "lm" else tiny.BUILDERS[name]
        tiny.into_hf_cache(build(), hub, f"racines-tiny/{repo}")
    with hf_cache_at(hub):
        yield hub


def write_diffusion_project(root: Path, shots: dict[str, str], resolution: str = "64x64") -> Path:
    """A tiny film whose cut is ``shots``, with models.yaml naming the tiny models."""
    film = f"title: Tiny Final\nframe_rate: 24\nresolution: {resolution}\ncut: [{', '.join(shots)}]\n"
    write_tiny_project(root, shots, film)
    (root / "models.yaml").write_text(TINY_MODELS_YAML)
    return root


def framemd5(path: Path, timestamps: bool = False) -> list[str]:
    """Each decoded frame's MD5 (FATE-style); with ``timestamps``, the whole line: its time and duration too."""
    from racines.media.ffmpeg import ffmpeg_exe

    out = subprocess.run([ffmpeg_exe(), "-v", "error", "-i", str(path), "-map", "0:v", "-fps_mode", "passthrough",
                          "-f", "framemd5", "-"],
                         capture_output=True, text=True, check=True).stdout
    lines = [line for line in out.splitlines() if line and not line.startswith("#")]
    return lines if timestamps else [line.rsplit(",", 1)[1].strip() for line in lines]


def top_boxes(path: Path) -> list[str]:
    """The kinds of a QuickTime or MP4 file's top-level boxes, in order."""
    from racines.render import quicktime

    with open(path, "rb") as handle:
        return [box.kind.decode() for box in quicktime.top_level(handle)]


@pytest.fixture
def empty_hub(tmp_path, monkeypatch):
    """An empty Hugging Face cache, so a developer's own downloads never change the outcome."""
    hub = tmp_path / "hub"
    hub.mkdir()
    monkeypatch.setenv("HF_HUB_CACHE", str(hub))
    return hub
