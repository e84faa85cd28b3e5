"""A hand-over folder for the editor: the timeline in every format beside the media it uses,
and a reel table. The .otio and the EDL name the media by relative paths, so they relink
wherever the folder is copied (the EDL conforms by reel anyway). The FCP 7 XML and the AAF
need absolute file URLs, which NLEs relink reliably where relative ones are not: they point
at the bundle's own media/ folder where it is written; after a move, relinking one file in an
NLE finds the others beside it."""

from __future__ import annotations

import csv
import io
import os
import shutil
from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path

import opentimelineio as otio

from racines.core.atomic import staging_dir
from racines.edit.exports import export_texts, with_media_urls, write_aaf


def write_bundle(timeline: otio.schema.Timeline, media_base: Path, rate: Fraction, drop_frame: bool,
                 destination: Path, stem: str, beside: Sequence[Path] = ()) -> Path:
    """Write ``destination`` (a folder, or a single ``.otioz`` file) and return it. ``beside``:
    files the editor takes with the timeline (the subtitle sidecars), copied next to it in a
    folder; an .otioz holds the timeline and its media only."""
    media = {}
    for clip in timeline.find_clips():
        source = (media_base / clip.media_reference.target_url).resolve()
        media[clip.media_reference.target_url] = source
    portable = with_media_urls(timeline, lambda url: f"media/{media[url].name}")
    if destination.suffix == ".otioz":
        absolute = with_media_urls(timeline, lambda url: media[url].as_uri())
        destination.parent.mkdir(parents=True, exist_ok=True)
        partial = destination.with_name(f".{destination.name}.partial")
        otio.adapters.write_to_file(absolute, str(partial), adapter_name="otioz")
        os.replace(partial, destination)
        return destination
    with staging_dir(destination.parent, destination.name) as work:
        (work / "media").mkdir()
        for source in media.values():
            _link_or_copy(source, work / "media" / source.name)
        # the URLs name the media where the folder will be, not in its staging place
        for suffix, text in export_texts(portable, rate, drop_frame, destination, portable=True).items():
            (work / f"{stem}.{suffix}").write_text(text, encoding="utf-8")
        write_aaf(portable, work / f"{stem}.aaf", media_base=destination, drop_frame=drop_frame)
        (work / "reels.csv").write_text(_reel_table(timeline, media), encoding="utf-8")
        for path in beside:
            shutil.copy2(path, work / path.name)
        _replace_folder(work, destination)
    return destination


def _reel_table(timeline: otio.schema.Timeline, media: dict[str, Path]) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["reel", "shot", "take", "file", "frames", "handles"])
    for clip in timeline.find_clips():
        meta = clip.metadata.get("racines", {})
        writer.writerow([meta.get("reel"), meta.get("shot"), meta.get("take"),
                         f"media/{media[clip.media_reference.target_url].name}",
                         round(clip.media_reference.available_range.duration.value), meta.get("handles")])
    return out.getvalue()


def _link_or_copy(source: Path, target: Path) -> None:
    try:
        os.link(source, target)  # takes are immutable, so sharing their bytes is safe
    except OSError:
        shutil.copy2(source, target)


def _replace_folder(new: Path, destination: Path) -> None:
    if destination.exists():
        old = destination.with_name(f".{destination.name}.old.partial")
        os.rename(destination, old)
        os.rename(new, destination)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.rename(new, destination)
