"""Replace the sound of a QuickTime master in place, as racines.render.quicktime replaces its
frames: the new PCM goes in a new ``mdat`` at the end of the file, the sound track's chunk
tables are rewritten to point at it, and the old index is retired last. A change of one voice
then writes the film's sound (288 kB a second), not the whole master (its picture is most of
the bytes). The old sound stays as dead space until the master is next joined whole.

Only the master's layout is handled: one sound track of 24-bit PCM stereo (``in24``, six bytes
a sample, as ffmpeg's ``mov`` muxer writes ``pcm_s24le``) holding as many samples as the new
sound; anything else raises :class:`~racines.render.quicktime.Unpatchable` and the caller remuxes.
"""

from __future__ import annotations

import fcntl
import os
import struct
from pathlib import Path
from typing import BinaryIO

from racines.render.quicktime import Box, Unpatchable, append_and_switch, other_tracks_bytes, read_moov, top_level

PCM_FORMATS = (b"in24",)
SAMPLE_BYTES = 6           # 24 bits, two channels
CHUNK = 48000              # samples a chunk of the new sound: a second, as a player reads it
COPY = 1 << 20


def sound_table(moov: Box) -> Box:
    """The ``stbl`` of the file's only sound track."""
    found = []
    for trak in (c for c in moov.children or [] if c.kind == b"trak"):
        mdia = trak.find(b"mdia")
        hdlr = mdia.find(b"hdlr") if mdia else None
        minf = mdia.find(b"minf") if mdia else None
        if hdlr is not None and hdlr.payload[8:12] == b"soun" and minf is not None and minf.find(b"stbl"):
            found.append(minf.find(b"stbl"))
    if len(found) != 1:
        raise Unpatchable(f"{len(found)} sound tracks; one is expected")
    return found[0]


def pcm_data(wav: Path) -> tuple[int, int]:
    """(offset, size) of a WAV file's sound data."""
    with open(wav, "rb") as handle:
        head = handle.read(12)
        if head[:4] != b"RIFF" or head[8:12] != b"WAVE":
            raise Unpatchable(f"{wav.name} is not a WAV file")
        offset, end = 12, os.fstat(handle.fileno()).st_size
        while offset + 8 <= end:
            handle.seek(offset)
            kind, size = struct.unpack("<4sI", handle.read(8))
            if kind == b"data":
                return offset + 8, min(size, end - offset - 8)
            offset += 8 + size + (size & 1)
    raise Unpatchable(f"{wav.name} holds no sound data")


def replace_sound(path: Path, wav: Path, expected: tuple[int, int] | None = None, min_live: float = 0.0) -> None:
    """Make ``wav`` (PCM s24le stereo, as long as the file's sound) the sound of ``path``.
    ``expected``: the file's (size, mtime in ns) when planned; ``min_live``: below this share
    of live samples in the file, it is refused (time to write it whole)."""
    data_at, size = pcm_data(wav)
    with open(path, "r+b") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)  # released when the file is closed
        status = os.fstat(handle.fileno())
        if expected is not None and (status.st_size, status.st_mtime_ns) != tuple(expected):
            raise Unpatchable("the file changed since it was planned")
        indexes = [b for b in top_level(handle) if b.kind == b"moov"]
        if len(indexes) != 1:
            raise Unpatchable(f"{len(indexes)} indexes (moov); one is expected")
        old = indexes[0]
        moov = read_moov(handle, old)
        stbl = sound_table(moov)
        count = _check_layout(stbl, size)
        if other_tracks_bytes(moov) < min_live * (status.st_size + size):
            raise Unpatchable(f"less than {min_live:.0%} of the file is live frames and sound")
        end = status.st_size

        def append() -> None:
            _append(handle, end, wav, data_at, size)
            _set_chunks(stbl, end + 16, count)

        append_and_switch(handle, end, append, moov, old)


def _check_layout(stbl: Box, size: int) -> int:
    """The track's sample count, when the new sound fits its description and length."""
    stsd, stsz = stbl.find(b"stsd"), stbl.find(b"stsz")
    if stsd is None or stsz is None or len(stsd.payload) < 16 or len(stsz.payload) < 12:
        raise Unpatchable("an incomplete sound sample table")
    if struct.unpack(">I", stsd.payload[4:8])[0] != 1 or stsd.payload[12:16] not in PCM_FORMATS:
        raise Unpatchable(f"the sound is {stsd.payload[12:16]!r}, not 24-bit PCM")
    uniform, count = struct.unpack(">II", stsz.payload[4:12])
    if uniform != SAMPLE_BYTES or size != count * SAMPLE_BYTES:
        raise Unpatchable(f"the new sound holds {size // SAMPLE_BYTES} samples, the track {count}")
    return count


def _append(handle: BinaryIO, end: int, wav: Path, data_at: int, size: int) -> None:
    handle.seek(end)
    handle.write(struct.pack(">I4sQ", 1, b"mdat", size + 16))  # the 64-bit form: any length
    with open(wav, "rb") as source:
        source.seek(data_at)
        left = size
        while left:
            block = source.read(min(COPY, left))
            if not block:
                raise Unpatchable(f"{wav.name} ends inside its sound")
            handle.write(block)
            left -= len(block)


def _set_chunks(stbl: Box, first: int, count: int) -> None:
    """Chunks of CHUNK samples from ``first`` on, the last one shorter."""
    chunks = -(-count // CHUNK)
    offsets = [first + index * CHUNK * SAMPLE_BYTES for index in range(chunks)]
    runs = [(1, min(CHUNK, count), 1)]
    if chunks > 1 and count % CHUNK:
        runs.append((chunks, count % CHUNK, 1))
    wide = offsets[-1] >= 2 ** 32
    tables = {b"stsc": struct.pack(">II", 0, len(runs)) + b"".join(struct.pack(">III", *run) for run in runs),
              b"co64" if wide else b"stco": struct.pack(">II", 0, chunks)
              + struct.pack(f">{chunks}{'Q' if wide else 'I'}", *offsets)}
    kept = [c for c in stbl.children if c.kind not in (b"stsc", b"stco", b"co64")]
    stbl.children = kept + [Box(kind, payload=payload) for kind, payload in tables.items()]
