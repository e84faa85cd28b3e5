"""The mix's stems beside the master, as Broadcast WAV whose ``bext`` chunk places them on the
record (``time_reference``: samples since midnight of the film's first frame), and the mix
manifest beside them; removed when the film has no sound any more."""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import ffmpeg

from racines.core.atomic import atomic_path, write_json
from racines.edit.audio import samples_at
from racines.media.ffmpeg import run
from racines.sound.mix import STEMS, Soundtrack


def stem_paths(out_dir: Path, stem: str) -> tuple[list[Path], Path]:
    """The stems' files and the mix manifest's, beside the master."""
    return [out_dir / f"{stem}_{name}.wav" for name in STEMS], out_dir / f"{stem}_mix.json"


def deliver_stems(sound: Soundtrack | None, out_dir: Path, stem: str, start: int, rate: Fraction) -> list[Path]:
    """Write what is missing or from another mix; the files written. ``start``: the film's first
    frame on the record (its start timecode in frames)."""
    stems, manifest = stem_paths(out_dir, stem)
    if sound is None:
        for path in [*stems, manifest]:
            path.unlink(missing_ok=True)
        return []
    if _key_of(manifest) == sound.key and all(path.is_file() for path in stems):
        return []
    reference = samples_at(start, rate)
    for name, path in zip(STEMS, stems):
        with atomic_path(path) as tmp:
            run(ffmpeg.input(str(sound.stem(name))).audio.output(
                str(tmp), acodec="pcm_s24le", f="wav", write_bext=1, metadata=f"time_reference={reference}",
                **{"metadata:g": f"description={name} stem"}), f"writing the {name} stem")
    data = json.loads(sound.manifest.read_text(encoding="utf-8"))
    data["stems"] = {name: {"file": path.name, "time_reference": reference} for name, path in zip(STEMS, stems)}
    write_json(manifest, data)
    return [*stems, manifest]


def _key_of(manifest: Path) -> str | None:
    try:
        return json.loads(manifest.read_text(encoding="utf-8")).get("key")
    except (OSError, ValueError, AttributeError):
        return None
