"""Replace the frames of a QuickTime or MP4 video track in place, for a film that changes a shot at a time.

A QuickTime file is a sequence of boxes: the media data (``mdat``) and an index (``moov``)
whose sample tables give each frame's size and position in the file. Samples may sit
anywhere, in any number of ``mdat`` boxes. So when one shot of a long ProRes master changes
(same frame counts), its new frames can be appended in a new ``mdat`` and the index
rewritten to point at them, instead of copying the whole file again:

    before:  ftyp  wide  mdat[all frames]  moov
    after:   ftyp  wide  mdat[all frames]  free(old moov)  mdat[new frames]  moov(new)

Crash safety: the new data and index are written at the end of the file and flushed; only then
is the old index renamed to ``free`` (a 4-byte write). Until that moment readers see the
old, complete film (a demuxer uses the first ``moov``); after it, the new one. The frames
replaced stay in the file as dead space until the caller writes the file whole again.

The index may also come first (an MP4 written with ``+faststart``): the new index still goes
at the end, and the one at the front becomes ``free``.

Frames that depend on others (H.264 with B-frames) are replaced only by frames laid out
alike: the same sample description (the decoder's parameter sets), the same key frames, and
the same decoding and composition timing within the run, so that the index's timing tables
hold as they are. Only what ffmpeg's ``mov``/``mp4`` muxers write is handled (one video track
with a sample table); anything else raises :class:`Unpatchable` and the caller joins the
file anew. Other tracks (the film's sound, the timecode) are left as they are: their samples
stay where they are in the file, and the new index keeps their tables unchanged.
"""

from __future__ import annotations

import fcntl
import os
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

CONTAINERS = {b"moov", b"trak", b"mdia", b"minf", b"stbl"}


class Unpatchable(Exception):
    """The file is not laid out as this module expects; write it whole instead."""


@dataclass
class Box:
    kind: bytes
    payload: bytes = b""                  # leaves
    children: list[Box] | None = None     # containers

    def find(self, kind: bytes) -> Box | None:
        return next((c for c in self.children or [] if c.kind == kind), None)

    def encode(self) -> bytes:
        body = b"".join(c.encode() for c in self.children) if self.children is not None else self.payload
        if len(body) + 8 >= 2 ** 32:
            return struct.pack(">I4sQ", 1, self.kind, len(body) + 16) + body
        return struct.pack(">I4s", len(body) + 8, self.kind) + body


@dataclass(frozen=True)
class TopBox:
    kind: bytes
    offset: int
    size: int


def top_level(handle: BinaryIO) -> list[TopBox]:
    handle.seek(0, os.SEEK_END)
    end = handle.tell()
    boxes, offset = [], 0
    while offset < end:
        handle.seek(offset)
        size, kind, _ = _header(handle.read(16), end - offset)
        boxes.append(TopBox(kind, offset, size))
        offset += size
    if offset != end:
        raise Unpatchable("a box runs past the end of the file")
    return boxes


def _header(head: bytes, remaining: int) -> tuple[int, bytes, int]:
    """(box size, kind, header length: 16 for the 64-bit size form, else 8)."""
    if len(head) < 8:
        raise Unpatchable("a truncated box header")
    size, kind = struct.unpack(">I4s", head[:8])
    length = 8
    if size == 1:
        if len(head) < 16:
            raise Unpatchable("a truncated box header")
        size, length = struct.unpack(">Q", head[8:16])[0], 16
    elif size == 0:
        size = remaining
    if size < length or size > remaining:
        raise Unpatchable(f"a {kind!r} box of impossible size {size}")
    return size, kind, length


def parse(data: bytes) -> list[Box]:
    boxes, offset = [], 0
    while offset < len(data):
        size, kind, header = _header(data[offset:offset + 16], len(data) - offset)
        body = data[offset + header:offset + size]
        boxes.append(Box(kind, children=parse(body)) if kind in CONTAINERS else Box(kind, payload=body))
        offset += size
    return boxes


def read_moov(handle: BinaryIO, box: TopBox) -> Box:
    handle.seek(box.offset)
    return parse(handle.read(box.size))[0]


def video_table(moov: Box) -> Box:
    """The ``stbl`` of the file's only video track."""
    found = []
    for trak in (c for c in moov.children if c.kind == b"trak"):
        mdia = trak.find(b"mdia")
        hdlr = mdia.find(b"hdlr") if mdia else None
        if hdlr is not None and hdlr.payload[8:12] == b"vide":
            stbl = mdia.find(b"minf").find(b"stbl") if mdia.find(b"minf") else None
            if stbl is None:
                raise Unpatchable("a video track without a sample table")
            found.append(stbl)
    if len(found) != 1:
        raise Unpatchable(f"{len(found)} video tracks; one is expected")
    return found[0]


def other_tracks_bytes(moov: Box, video: Box | None = None) -> int:
    """The bytes the index's other tracks (sound, timecode) hold, from their sample-size tables
    (every track's, without ``video``):
    live data, as the video's frames are. Their tables are left as they are by a patch: their
    samples keep their places in the file."""
    total = 0
    for trak in (c for c in moov.children if c.kind == b"trak"):
        mdia = trak.find(b"mdia")
        minf = mdia.find(b"minf") if mdia else None
        stbl = minf.find(b"stbl") if minf else None
        stsz = stbl.find(b"stsz") if stbl is not None and stbl is not video else None
        if stsz is None or len(stsz.payload) < 12:
            continue
        uniform, count = struct.unpack(">II", stsz.payload[4:12])
        total += uniform * count if uniform else sum(struct.unpack(f">{count}I", stsz.payload[12:12 + 4 * count]))
    return total


def codec_of(stbl: Box) -> bytes:
    """The sample description's four-character code (``apch`` for ProRes 422 HQ) and the
    frame's width and height: frames that differ in any of them cannot share the track."""
    stsd = stbl.find(b"stsd")
    if stsd is None or len(stsd.payload) < 44:
        raise Unpatchable("no video sample description")
    # stsd: version/flags, entry count; the entry: size, format, 6 reserved bytes, data
    # reference, version, revision, vendor, temporal and spatial quality, width, height
    return stsd.payload[12:16] + stsd.payload[40:44]


def samples(stbl: Box) -> list[tuple[int, int]]:
    """(file offset, size) of every sample, from the sample-size, -to-chunk and chunk-offset tables."""
    stsz, stsc = stbl.find(b"stsz"), stbl.find(b"stsc")
    chunk_box = stbl.find(b"stco") or stbl.find(b"co64")
    if stsz is None or stsc is None or chunk_box is None:
        raise Unpatchable("an incomplete sample table")
    uniform, count = struct.unpack(">II", stsz.payload[4:12])
    sizes = [uniform] * count if uniform else list(struct.unpack(f">{count}I", stsz.payload[12:12 + 4 * count]))
    (runs,) = struct.unpack(">I", stsc.payload[4:8])
    table = [struct.unpack(">III", stsc.payload[8 + 12 * i:20 + 12 * i]) for i in range(runs)]
    (chunks,) = struct.unpack(">I", chunk_box.payload[4:8])
    wide = chunk_box.kind == b"co64"
    offsets = struct.unpack(f">{chunks}{'Q' if wide else 'I'}", chunk_box.payload[8:8 + chunks * (8 if wide else 4)])
    found, sample = [], 0
    for index, chunk_offset in enumerate(offsets, start=1):
        per_chunk = next(per for first, per, _ in reversed(table) if first <= index)
        for _ in range(per_chunk):
            found.append((chunk_offset, sizes[sample]))
            chunk_offset += sizes[sample]
            sample += 1
    if sample != count:
        raise Unpatchable(f"the chunk tables hold {sample} samples, the size table {count}")
    return found


def set_samples(stbl: Box, placed: list[tuple[int, int]]) -> None:
    """Rewrite the tables for samples at the given (offset, size), one sample per chunk."""
    count = len(placed)
    sizes = struct.pack(f">{count}I", *(size for _, size in placed))
    wide = max(offset for offset, _ in placed) >= 2 ** 32
    offsets = struct.pack(f">{count}{'Q' if wide else 'I'}", *(offset for offset, _ in placed))
    tables = {b"stsz": struct.pack(">III", 0, 0, count) + sizes,
              b"stsc": struct.pack(">IIIII", 0, 1, 1, 1, 1),
              b"co64" if wide else b"stco": struct.pack(">II", 0, count) + offsets}
    kept = [c for c in stbl.children if c.kind not in (b"stsz", b"stsc", b"stco", b"co64")]
    stbl.children = kept + [Box(kind, payload=payload) for kind, payload in tables.items()]


def _runs(box: Box | None, count: int, signed: bool = False) -> tuple[int, ...] | None:
    """Expand a table of (sample count, value) runs (``stts``, ``ctts``) to one value per sample."""
    if box is None:
        return None
    (entries,) = struct.unpack(">I", box.payload[4:8])
    kind = "i" if signed and box.payload[0] == 1 else "I"  # ctts version 1: signed offsets
    values = []
    for index in range(entries):
        run, value = struct.unpack(f">I{kind}", box.payload[8 + 8 * index:16 + 8 * index])
        values.extend([value] * run)
    if len(values) != count:
        raise Unpatchable(f"a {box.kind.decode()} table for {len(values)} samples in a track of {count}")
    return tuple(values)


@dataclass(frozen=True)
class Timing:
    """How a track's frames are decoded and shown: key frames, decoding durations, composition offsets.

    ``keys`` and ``offsets`` are None for a track of intra-only frames shown in decoding order
    (no ``stss``, no ``ctts``: ProRes)."""

    keys: frozenset[int] | None
    durations: tuple[int, ...]
    offsets: tuple[int, ...] | None

    @property
    def intra_only(self) -> bool:
        return self.keys is None and self.offsets is None

    def of_run(self, start: int, count: int) -> tuple:
        """A run of frames' layout, relative to its first: what must match for one run to replace
        another (the last frame's duration leads into the next run, so it is left out)."""
        keys = None if self.keys is None else tuple(i - start for i in sorted(self.keys) if start <= i < start + count)
        offsets = None if self.offsets is None else self.offsets[start:start + count]
        return keys, self.durations[start:start + count - 1], offsets


def timing_of(stbl: Box, count: int) -> Timing:
    stss = stbl.find(b"stss")
    keys = None
    if stss is not None:
        (entries,) = struct.unpack(">I", stss.payload[4:8])
        keys = frozenset(n - 1 for n in struct.unpack(f">{entries}I", stss.payload[8:8 + 4 * entries]))
    durations = _runs(stbl.find(b"stts"), count)
    if durations is None:
        raise Unpatchable("no decoding times (stts)")
    return Timing(keys, durations, _runs(stbl.find(b"ctts"), count, signed=True))


@dataclass(frozen=True)
class Track:
    """The video samples of a QuickTime file, their codec, sample description and timing."""

    path: Path
    codec: bytes
    samples: list[tuple[int, int]]
    description: bytes
    timing: Timing


def read_track(path: Path) -> Track:
    with open(path, "rb") as handle:
        boxes = top_level(handle)
        moov = next((b for b in boxes if b.kind == b"moov"), None)
        if moov is None:
            raise Unpatchable(f"{path.name} has no index (moov)")
        return _track(path, video_table(read_moov(handle, moov)))


def _track(path: Path, stbl: Box) -> Track:
    placed = samples(stbl)
    return Track(path, codec_of(stbl), placed, decoder_setup(stbl), timing_of(stbl, len(placed)))


VISUAL_ENTRY = 94  # stsd's header, then a visual sample entry's own fields; its boxes follow


def decoder_setup(stbl: Box) -> bytes:
    """The video sample description as the decoder sees it (codec, size, and boxes such as
    ``avcC`` with H.264's parameter sets), less the bit-rate box (``btrt``), which differs from
    file to file whatever the frames."""
    stsd = stbl.find(b"stsd").payload  # codec_of has checked that it is there
    if struct.unpack(">I", stsd[4:8])[0] != 1:
        raise Unpatchable("more than one sample description")
    entry_end = 8 + struct.unpack(">I", stsd[8:12])[0]
    boxes = parse(stsd[VISUAL_ENTRY:entry_end]) if entry_end >= VISUAL_ENTRY else []
    return stsd[12:VISUAL_ENTRY] + b"".join(box.encode() for box in boxes if box.kind != b"btrt")


def _check_alike(track: Track, first: int, source: Track, start: int, count: int) -> None:
    """Refuse a replacement that the track's index could not describe without rewriting its timing."""
    if source.codec != track.codec:
        raise Unpatchable(f"{source.path.name} holds {source.codec!r} frames, the file {track.codec!r}")
    if first + count > len(track.samples) or start + count > len(source.samples):
        raise Unpatchable(f"a replacement from {source.path.name} runs past the end of a track")
    if track.timing.intra_only and source.timing.intra_only:
        return  # any intra frame of the same codec and size can stand for another
    if source.description != track.description:
        raise Unpatchable(f"{source.path.name} was encoded with other decoder parameters")
    if source.timing.of_run(start, count) != track.timing.of_run(first, count):
        raise Unpatchable(f"{source.path.name} lays out its frames otherwise (key frames or timing)")


def replace_samples(path: Path, replacements: dict[int, tuple[Track, int, int]],
                    expected: tuple[int, int] | None = None, min_live: float = 0.0) -> None:
    """Replace runs of samples of ``path``'s video track: ``{first sample: (source, its first
    sample, count)}``. The sample count and everything else in the index stay as they are.

    The file is locked (``flock``) while it changes, so two renders never append at once; with
    ``expected`` (size, mtime in ns), a file that changed since the caller looked is refused,
    and so is one whose video samples fill less than ``min_live`` of its bytes (the rest is
    index and the dead frames of earlier replacements: time to write it whole)."""
    with open(path, "r+b") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)  # released when the file is closed
        stat = os.fstat(handle.fileno())
        if expected is not None and (stat.st_size, stat.st_mtime_ns) != tuple(expected):
            raise Unpatchable("the file changed since it was planned")
        boxes = top_level(handle)
        indexes = [b for b in boxes if b.kind == b"moov"]
        if len(indexes) != 1:
            raise Unpatchable(f"{len(indexes)} indexes (moov); one is expected")
        old = indexes[0]
        moov = read_moov(handle, old)
        stbl = video_table(moov)
        track = _track(path, stbl)
        placed = list(track.samples)
        if sum(size for _, size in placed) + other_tracks_bytes(moov, stbl) < min_live * stat.st_size:
            raise Unpatchable(f"less than {min_live:.0%} of the file is live frames and sound")
        for first, (source, start, count) in replacements.items():
            _check_alike(track, first, source, start, count)
        def append() -> None:
            _append(handle, stat.st_size, placed, replacements)
            set_samples(stbl, placed)

        append_and_switch(handle, stat.st_size, append, moov, old)


def append_and_switch(handle: BinaryIO, end: int, append, moov, old: TopBox) -> None:
    """``append`` writes the new samples at ``end`` and updates the index they need; then the new
    index follows them, and only once all of it is on disk is the old one retired. Any failure
    before that cuts the file back to ``end``: the old index is still its only one."""
    try:
        append()
        handle.write(moov.encode())
        handle.flush()
        os.fsync(handle.fileno())
    except BaseException:
        handle.truncate(end)
        raise
    switch_index(handle, old)


def switch_index(handle: BinaryIO, old: TopBox) -> None:
    """Retire the old index: from here on the new one, written after it, is the file's only one."""
    handle.seek(old.offset + 4)
    handle.write(b"free")
    handle.flush()
    os.fsync(handle.fileno())


def _append(handle: BinaryIO, end: int, placed: list[tuple[int, int]],
            replacements: dict[int, tuple[Track, int, int]]) -> None:
    """Write the replacing samples in one new ``mdat`` after ``end``, noting where each lands."""
    runs = sorted(replacements.items(), key=lambda item: item[0])
    total = sum(size for _, (source, start, count) in runs for _, size in source.samples[start:start + count])
    handle.seek(end)
    handle.write(struct.pack(">I4sQ", 1, b"mdat", total + 16))  # the 64-bit form: any length
    position = end + 16
    for first, (source, start, count) in runs:
        with open(source.path, "rb") as media:
            for index, (offset, size) in enumerate(source.samples[start:start + count]):
                media.seek(offset)
                data = media.read(size)
                if len(data) != size:
                    raise Unpatchable(f"{source.path.name} ends inside a frame")
                handle.write(data)
                placed[first + index] = (position, size)
                position += size
