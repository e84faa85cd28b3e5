"""Render a timeline to the film's deliverables: a ProRes master and an H.264 review copy.

The film is cut into pieces (solo stretches and dissolves, see racines.render.pieces) and
the deliverables are joined from them by stream copy. In the master, a solo stretch is
copied straight from its take's ProRes media, frame-exact (ProRes is intra-only) and with
no generation loss; only dissolves are encoded. Encoded pieces (dissolves, and the review
copy's pieces with their burn-ins) are kept in ``renders/cache/pieces/`` under a key of
what they show: after a change to one shot only its pieces are encoded again, their frames
are swapped into the existing master and review copy in place (racines.render.quicktime),
and an unchanged film is not touched at all. Every file is written under a temporary name
and moved into place when complete, or patched so that a reader sees the old film or the
new one, never a mix.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from contextlib import ExitStack
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import ffmpeg
import opentimelineio as otio

from racines.errors import RenderFailed
from racines.media import fonts, presets
from racines.media.ffmpeg import FrameWriter, raw_input, run
from racines.render import quicktime
from racines.render.compose import PIX_FMT, numbered_video, short_media
from racines.render.pieces import Piece, cut_into_pieces, piece_frames, piece_key
from racines.core.atomic import atomic_path, staging_dir, write_json

PIECES_DIR = Path("cache") / "pieces"
LINKS_DIR = Path("cache") / "links"
SAFE_COMPONENT = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9._-]*$")
#: bump when the encoding of pieces changes, so that every piece is encoded again
PIECE_FORMAT = "3"
CHUNK = 16  # encoded pieces per chunk file (see _chunks)
#: below this share of live frames in a deliverable, it is joined whole again rather than patched
LIVE_MIN = 0.5


@dataclass(frozen=True)
class Deliverables:
    master: Path | None
    review: Path | None
    frames: int
    pieces_encoded: int = 0
    unchanged: bool = False


def render_timeline(timeline: otio.schema.Timeline, media_base: Path, out_dir: Path, stem: str,
                    width: int, height: int, rate: Fraction, review: bool = True,
                    on_frame: Callable[[int], None] | None = None, workers: int = 1,
                    copy_solo: bool = True, master: bool = True,
                    while_encoding: Callable[[], None] = lambda: None) -> Deliverables:
    """``workers``: pieces encoded at once; ``copy_solo=False`` encodes every frame of the master
    (e.g. to compare with a full re-encode); ``master=False`` leaves the master as it is (a
    director's iteration watches the review copy). ``while_encoding`` is called once the pieces
    to encode are under way, for other work to overlap them, not the film's layout before them
    (not called when nothing changed)."""
    if not (master or review):
        raise ValueError("render_timeline needs the master, the review copy, or both")
    layout = _layout(timeline, media_base, out_dir, width, height, rate, copy_solo, master, review)
    rate_text, start_tc = layout.rate_text, layout.start_tc
    expected, pieces = layout.frames, layout.pieces
    master_entries, review_entries = layout.master_entries, layout.review_entries
    if sum(p.frames for p in pieces) != expected:
        raise RenderFailed(f"the pieces of the timeline add up to {sum(p.frames for p in pieces)} frames, "
                           f"but it lasts {expected}")
    cache = out_dir / PIECES_DIR
    master_path, review_path = out_dir / f"{stem}_master.mov", out_dir / f"{stem}_review.mp4"
    format_key = layout.format_key
    sources = [p.identity for p in pieces]
    # master and review each keep their own state, so a render without the review copy
    # leaves the review's cached pieces alone
    plans = {}
    if master:
        plans["master"] = {"stem": stem, "timecode": start_tc, "format": format_key, "entries": master_entries,
                           "sources": sources}
    if review:
        plans["review"] = {"stem": stem, "timecode": start_tc, "entries": review_entries, "sources": sources}
    paths = {"master": master_path, "review": review_path}
    stale = [kind for kind, plan in plans.items() if not _unchanged(cache / f"{stem}.{kind}.json", plan, paths[kind])]
    if not stale:
        if on_frame:
            on_frame(expected)
        return Deliverables(master_path if master else None, review_path if review else None, expected, 0, True)
    jobs = layout.jobs(out_dir)
    encoded = sum(1 for _, _, master_piece, review_piece in jobs if master_piece or review_piece)
    if workers <= 1:
        while_encoding()
        done = 0
        for piece, tc, master_piece, review_piece in jobs:
            if master_piece or review_piece:
                _encode_piece(piece, width, height, rate_text, tc, master_piece, review_piece,
                              lambda n, base=done: on_frame(base + n) if on_frame else None)
            done += piece.frames
            if on_frame:
                on_frame(done)
    else:
        # pieces are independent: encode several at once (each is a Python reader/blender
        # feeding its own ffmpeg processes, so threads run in parallel); progress by piece
        done = sum(piece.frames for piece, _, master_piece, review_piece in jobs
                   if not (master_piece or review_piece))
        with ThreadPoolExecutor(workers, thread_name_prefix="racines-piece") as pool:
            futures = {pool.submit(_encode_piece, piece, width, height, rate_text, tc, master_piece, review_piece,
                                   lambda n: None): piece
                       for piece, tc, master_piece, review_piece in jobs if master_piece or review_piece}
            while_encoding()
            for future in as_completed(futures):
                future.result()
                done += futures[future].frames
                if on_frame:
                    on_frame(done)

    joins = {"master": (master_entries, master_path, {"timecode": start_tc, "f": "mov"}, "the master"),
             "review": (review_entries, review_path, {"f": "mp4", "movflags": "+faststart"}, "the review copy")}
    joined = {}  # the files each deliverable is joined from: its pieces, or chunks of them

    def join(kind: str) -> None:
        entries, path, options, what = joins[kind]
        if _patch_in_place(path, cache / f"{stem}.{kind}.json", plans[kind], pieces, out_dir):
            # the chunks that still hold current pieces are kept for the next full join
            joined[kind] = [chunk for chunk, _ in _chunk_plan(entries) if (out_dir / chunk["file"]).is_file()]
            return
        joined[kind] = _chunks(out_dir, entries, rate, options["f"], what)
        _join(out_dir, joined[kind], path, rate, options, what)

    # the two joins are ffmpeg processes bound by the disk: side by side they take the time of the longer
    with ThreadPoolExecutor(len(stale), thread_name_prefix="racines-join") as pool:
        for future in [pool.submit(join, kind) for kind in stale]:
            future.result()
    for kind in stale:
        write_json(cache / f"{stem}.{kind}.json", {**plans[kind], "joined": [e["file"] for e in joined[kind]],
                                                  "output": _stamp(paths[kind])})
    _prune(cache)
    return Deliverables(master_path if master else None, review_path if review else None, expected, encoded, False)


@dataclass(frozen=True)
class _Layout:
    """The film cut into pieces, and the cache entry each deliverable joins for each piece."""

    rate: Fraction
    rate_text: str
    start: otio.opentime.RationalTime
    start_tc: str
    frames: int
    pieces: list[Piece]
    format_key: list
    master_entries: list[dict]
    review_entries: list[dict]

    def jobs(self, out_dir: Path, only: Callable[[Piece], bool] = lambda piece: True) -> list[tuple]:
        """(piece, its record timecode, master file to encode or None, review file to encode or None)
        for each piece that ``only`` accepts; a None file is cached already, or copied from its take."""
        found = []
        for index, piece in enumerate(self.pieces):
            if not only(piece):
                continue
            wanted = [out_dir / e["file"] for e in (*self.master_entries[index:index + 1],
                                                    *self.review_entries[index:index + 1]) if "inpoint" not in e]
            missing = [path for path in wanted if not path.is_file()]
            record = self.start + otio.opentime.RationalTime(piece.record_in, float(self.rate))
            found.append((piece, otio.opentime.to_timecode(record, float(self.rate)),
                          next((p for p in missing if p.suffix == ".mov"), None),
                          next((p for p in missing if p.suffix == ".mp4"), None)))
        return found


def _layout(timeline: otio.schema.Timeline, media_base: Path, out_dir: Path, width: int, height: int,
            rate: Fraction, copy_solo: bool, master: bool, review: bool) -> _Layout:
    rate_text = str(rate.numerator) if rate.denominator == 1 else f"{rate.numerator}/{rate.denominator}"
    start = timeline.global_start_time or otio.opentime.RationalTime(0, float(rate))
    start_tc = otio.opentime.to_timecode(start, float(rate))
    track = timeline.video_tracks()[0]
    pieces = cut_into_pieces(track, media_base)
    format_key = [PIECE_FORMAT, width, height, rate_text]
    master_entries = [(_copy_entry(p, out_dir, rate) if copy_solo else None)
                      or _encoded_entry(piece_key(p, "master", *format_key), ".mov") for p in pieces] if master else []
    review_entries = [_encoded_entry(piece_key(p, "review", *format_key, p.labels, start_tc, p.record_in), ".mp4")
                      for p in pieces] if review else []
    return _Layout(rate, rate_text, start, start_tc, round(track.duration().value), pieces, format_key,
                   master_entries, review_entries)


def encode_pieces_ahead(timeline: otio.schema.Timeline, media_base: Path, out_dir: Path, width: int, height: int,
                        rate: Fraction, ready: set[Path], review: bool = True,
                        keep_going: Callable[[], bool] = lambda: True,
                        on_encoded: Callable[[], None] = lambda: None) -> int:
    """Encode into the piece cache, one at a time, the pieces whose every layer shows media in
    ``ready``, as render_timeline would for the same timeline; stop between pieces when
    ``keep_going`` says so; ``on_encoded`` is called after each. Return how many were encoded.

    For a batch, while shots are still being made: the timeline may hold stand-ins for them,
    whose pieces are left alone. The render of the final timeline then finds the others cached,
    under the same keys; a piece the final timeline does not use is pruned by that render."""
    layout = _layout(timeline, media_base, out_dir, width, height, rate, True, True, review)
    encoded = 0
    for piece, tc, master_piece, review_piece in layout.jobs(
            out_dir, lambda piece: all(layer.media in ready for layer in piece.layers)):
        if not (master_piece or review_piece):
            continue
        if not keep_going():
            break
        _encode_piece(piece, width, height, layout.rate_text, tc, master_piece, review_piece, lambda n: None)
        encoded += 1
        on_encoded()
    return encoded


def _patch_in_place(output: Path, state_path: Path, plan: dict, pieces: list[Piece], out_dir: Path) -> bool:
    """Put the changed pieces' frames into the existing master or review copy in place
    (racines.render.quicktime) rather than copying the whole film again. Only when the file is
    the one the last render wrote, in the same size and rate, every piece keeps its length,
    less than half the film changed, at least half the file is still live frames (below that,
    the full join compacts it), and each new piece's frames are laid out as the old one's
    (H.264: same key frames and timing, see presets.review_h264). False: join it whole."""
    try:
        state = json.loads(state_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    old_entries, old_sources = state.get("entries", []), state.get("sources", [])
    if (not output.is_file() or state.get("output") != _stamp(output)
            or any(state.get(k) != plan.get(k) for k in ("stem", "timecode", "format"))
            or [s.get("frames") for s in old_sources] != [p.frames for p in pieces]
            or len(old_entries) != len(pieces)):
        return False
    try:
        replacements, first, tracks = {}, 0, {}
        for index, piece in enumerate(pieces):
            entry = plan["entries"][index]
            if entry != old_entries[index] or plan["sources"][index] != old_sources[index]:
                copied = "inpoint" in entry
                media = piece.layers[0].media if copied else out_dir / entry["file"]
                if media not in tracks:
                    tracks[media] = quicktime.read_track(media)
                replacements[first] = (tracks[media], piece.layers[0].first_frame if copied else 0, piece.frames)
            first += piece.frames
        if not replacements or 2 * sum(count for _, _, count in replacements.values()) >= first:
            return False
        quicktime.replace_samples(output, replacements, expected=state["output"], min_live=LIVE_MIN)
    except (quicktime.Unpatchable, OSError):
        return False
    return True


def _encoded_entry(key: str, suffix: str) -> dict:
    return {"file": (PIECES_DIR / f"{key}{suffix}").as_posix()}


def _copy_entry(piece: Piece, out_dir: Path, rate: Fraction) -> dict | None:
    """A solo stretch copied from its take: the concat list entry with exact in and out points.

    Media outside ``out_dir``, or with names a concat list cannot hold safely, is reached
    through a link with a hex name under the piece cache."""
    if len(piece.layers) != 1:
        return None
    layer = piece.layers[0]
    relative = Path(os.path.relpath(layer.media, out_dir))
    if not all(SAFE_COMPONENT.match(part) for part in relative.parts):
        relative = _safe_link(layer.media, out_dir)
    # inpoint rounds up and outpoint down to the microsecond, so that each lands strictly
    # inside the right frame interval whatever the rate (24000/1001 has no exact decimal)
    return {"file": relative.as_posix(), "inpoint": _microseconds(layer.first_frame / rate, math.ceil),
            "outpoint": _microseconds((layer.first_frame + piece.frames) / rate, math.floor)}


def _safe_link(media: Path, out_dir: Path) -> Path:
    name = hashlib.sha256(str(media.resolve()).encode()).hexdigest()[:32] + media.suffix.lower()
    link = out_dir / LINKS_DIR / name
    if not link.is_symlink() or link.resolve() != media.resolve():
        link.parent.mkdir(parents=True, exist_ok=True)
        link.unlink(missing_ok=True)
        link.symlink_to(media.resolve())
    return LINKS_DIR / name


def _microseconds(seconds: Fraction, rounding) -> str:
    micro = rounding(seconds * 1_000_000)
    return f"{micro // 1_000_000}.{micro % 1_000_000:06d}"


def _encode_piece(piece: Piece, width: int, height: int, rate_text: str, timecode: str,
                  master: Path | None, review: Path | None, on_frame: Callable[[int], None]) -> None:
    if master is None and review is not None and len(piece.layers) == 1:
        _transcode_solo_review(piece, rate_text, timecode, review, height)
        on_frame(piece.frames)
        return
    with ExitStack() as stack:
        # one ffmpeg encodes both deliverables' pieces from one stream of frames
        source = presets.tag_bt709(raw_input(width, height, rate_text, PIX_FMT))
        split = source.split() if master is not None and review is not None else None
        outputs = []
        if master is not None:
            tmp = stack.enter_context(atomic_path(master))
            outputs.append((split[0] if split else source).output(str(tmp), **presets.prores_hq(timecode)))
        if review is not None:
            # beside the piece, not in /tmp: a render killed here leaves it to the next one's sweep
            labels = stack.enter_context(staging_dir(review.parent, "burnin"))
            tmp = stack.enter_context(atomic_path(review))
            graph = _burn_ins(split[1] if split else source, piece, labels, timecode, rate_text, height)
            outputs.append(graph.output(str(tmp), **presets.review_h264(patchable=True)))
        what = " and ".join(name for name, path in (("the master", master), ("the review copy", review)) if path)
        writer = stack.enter_context(FrameWriter(ffmpeg.merge_outputs(*outputs), f"encoding {what}"))
        for count, frame in enumerate(piece_frames(piece, width, height), start=1):
            writer.write(frame)
            on_frame(count)


def _transcode_solo_review(piece: Piece, rate_text: str, timecode: str, review: Path, height: int) -> None:
    """A solo stretch of the review copy in one ffmpeg: decode the take, burn in, encode. Its
    frames skip the trip through Python that blending needs (at 720p, 3.7 MB a frame out of
    one pipe and into another). The frames are those the reader would give: the same seek,
    the same 10-bit 4:2:2, numbered from 0 at the film's rate."""
    layer = piece.layers[0]
    rate = Fraction(rate_text)
    stream = numbered_video(layer.media, layer.first_frame, layer.clip_name, layer.rate, rate)
    with staging_dir(review.parent, "burnin") as labels, atomic_path(review) as tmp:
        graph = _burn_ins(stream, piece, labels, timecode, rate_text, height)
        run(graph.output(str(tmp), fps_mode="passthrough", **{"frames:v": piece.frames},
                         **presets.review_h264(patchable=True)), "encoding the review copy")
        delivered = len(quicktime.read_track(tmp).samples)
        if delivered != piece.frames:
            raise short_media(layer.clip_name, layer.media, delivered, piece.frames)


def _burn_ins(stream, piece: Piece, labels: Path, timecode: str, rate_text: str, height: int):
    """Shot id and take over each clip's stretch of the record, and the record timecode.

    Label text reaches drawtext through ``textfile`` only: shot names are never spliced
    into the filter graph.
    """
    stream = presets.tag_bt709(stream).filter("format", "yuv420p")
    size = max(12, height // 24)
    common = {"fontfile": str(fonts.MONO), "fontsize": size, "fontcolor": "white", "box": 1,
              "boxcolor": "black@0.55", "boxborderw": max(2, size // 4)}
    for index, (text, first, last) in enumerate(piece.labels):
        label = labels / f"label{index:04d}.txt"
        label.write_text(text, encoding="utf-8")
        stream = stream.filter("drawtext", textfile=str(label), x=size, y=size,
                               enable=f"between(n,{first},{last})", **common)
    return stream.filter("drawtext", timecode=timecode, rate=rate_text, x=f"w-tw-{size}", y=f"h-th-{size}", **common)


def _chunks(out_dir: Path, entries: list[dict], rate: Fraction, container: str, what: str) -> list[dict]:
    """Runs of CHUNK encoded pieces joined into cached chunk files, named by the pieces they hold.

    Opening a piece costs ffmpeg's concat reader a few milliseconds whatever its size, so a
    film of a hundred shots re-joined from its pieces after each change pays for every one;
    with chunks, a change re-joins one chunk and the film is joined from a few chunks. Pieces
    cut from takes by in and out points (the master's solo stretches) are left as they are."""
    if len(entries) <= CHUNK or any("inpoint" in entry for entry in entries):
        return entries
    plan = _chunk_plan(entries)
    for chunk, group in plan:
        if not (out_dir / chunk["file"]).is_file():
            _join(out_dir, group, out_dir / chunk["file"], rate, {"f": container}, f"{what} (a chunk of pieces)",
                  keep_listing=False)
    return [chunk for chunk, _ in plan]


def _chunk_plan(entries: list[dict]) -> list[tuple[dict, list[dict]]]:
    """(chunk entry, the piece entries it holds) for each run of CHUNK pieces."""
    plan = []
    for first in range(0, len(entries), CHUNK):
        group = entries[first:first + CHUNK]
        name = hashlib.sha256(json.dumps([PIECE_FORMAT, group]).encode()).hexdigest()[:32]
        plan.append(({"file": (PIECES_DIR / f"chunk-{name}{Path(group[0]['file']).suffix}").as_posix()}, group))
    return plan


def _join(out_dir: Path, entries: list[dict], output: Path, rate: Fraction, options: dict, what: str,
          keep_listing: bool = True) -> None:
    """Stream-copy the pieces into one file. Where pieces are cut from takes by in and out
    points, every frame then gets its exact timestamp again (the points leave sub-frame
    jitter at the joins; only intra-only ProRes is cut so, so no frame reordering is lost).
    The concat list names only our own hex pieces and validated take paths, read with safe=1."""
    lines = ["ffconcat version 1.0"]
    for entry in entries:
        lines.append(f"file '{entry['file']}'")
        lines += [f"{key} {entry[key]}" for key in ("inpoint", "outpoint") if key in entry]
    if any("inpoint" in entry for entry in entries):
        options = {**options, "bsf:v": f"setts=ts=N*{rate.denominator}/({rate.numerator}*TB)"}
    # the listing sits in out_dir, which its relative paths start from; a deliverable keeps its own
    listing_path = out_dir / f"{output.stem}.ffconcat" if keep_listing else out_dir / f".{output.stem}.ffconcat"
    with atomic_path(listing_path) as listing, atomic_path(output) as tmp:
        listing.write_text("\n".join(lines) + "\n")
        run(ffmpeg.input(str(listing), format="concat", safe=1)
            .output(str(tmp), c="copy", map="0:v", **options), f"joining {what}")
    if not keep_listing:
        listing_path.unlink(missing_ok=True)


def _stamp(path: Path) -> list[int]:
    stat = path.stat()
    return [stat.st_size, stat.st_mtime_ns]


def _unchanged(state_path: Path, plan: dict, output: Path) -> bool:
    try:
        state = json.loads(state_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return all(state.get(k) == v for k, v in plan.items()) and output.is_file() and state.get("output") == _stamp(output)


def _prune(cache: Path) -> None:
    """Keep only the encoded pieces that some film's last render uses."""
    used: set[str] = set()
    for state in cache.glob("*.json"):
        try:
            data = json.loads(state.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        used.update(Path(e["file"]).name for e in data.get("entries", []))
        used.update(Path(file).name for file in data.get("joined", []))
    for piece in list(cache.glob("*.mov")) + list(cache.glob("*.mp4")):
        if piece.name not in used:
            piece.unlink(missing_ok=True)
