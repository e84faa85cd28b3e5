"""Open sound recordings safely: WAV (PCM or float, RF64 too) and FLAC, read from their headers.

Only what the header says is read, never the sound itself: its codec, rate, channels and
length, checked against the file's size so that a copy cut short is refused before a render
starts rather than heard as a voice that stops. Anything else (a text file named .wav, an MP3,
a WAV holding ADPCM) is refused with what to do instead.
"""

from __future__ import annotations

import os
import stat
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

SUFFIXES = (".wav", ".wave", ".flac")
#: recordings slower than a telephone's or faster than a studio's are slips
MIN_RATE, MAX_RATE = 8000, 192000
MAX_CHANNELS = 8
#: the longest recording a film can hold (a day) and the largest file read: bounds a crafted
#: header cannot pass
MAX_SECONDS = 24 * 3600
MAX_BYTES = 64 * 1024 ** 3
EXPORT_FIX = "export the recording as WAV (PCM, e.g. 48 kHz 24-bit) or FLAC, e.g. ffmpeg -i IN -c:a pcm_s24le OUT.wav"
DAMAGED_FIX = "copy the file again from the recorder or the original export; it looks truncated or damaged"

WAV_PCM, WAV_FLOAT, WAV_EXTENSIBLE = 1, 3, 0xFFFE
PCM_CODECS = {8: "pcm_u8", 16: "pcm_s16le", 24: "pcm_s24le", 32: "pcm_s32le"}
FLOAT_CODECS = {32: "pcm_f32le", 64: "pcm_f64le"}


class NotAudio(ValueError):
    def __init__(self, message: str, fix: str = EXPORT_FIX):
        super().__init__(message)
        self.fix = fix


@dataclass(frozen=True)
class AudioInfo:
    codec: str
    rate: int
    channels: int
    bits: int
    samples: int     # per channel


def read_info(path: Path) -> AudioInfo:
    """What the recording at ``path`` holds; raise :class:`NotAudio` for anything racines will not mix."""
    if path.suffix.lower() not in SUFFIXES:
        raise NotAudio(f"'{path.suffix or path.name}' files are not accepted as sound")
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        raise NotAudio("no such file", "check the path (relative to the file that names it)") from None
    except (OSError, ValueError) as exc:
        raise NotAudio(f"the file cannot be opened ({getattr(exc, 'strerror', None) or exc})",
                       "check the path and the file's permissions") from None
    with os.fdopen(fd, "rb") as handle:
        status = os.fstat(handle.fileno())
        if not stat.S_ISREG(status.st_mode):
            raise NotAudio("this is not a regular file", "give the path of a sound file")
        if status.st_size > MAX_BYTES:
            raise NotAudio(f"the file is larger than the {MAX_BYTES // 1024 ** 3} GiB racines reads",
                           "split the recording")
        head = handle.read(12)
        if head[:4] == b"fLaC":
            info = _flac(handle)
        elif head[:4] in (b"RIFF", b"RF64") and head[8:12] == b"WAVE":
            info = _wav(handle, status.st_size, rf64=head[:4] == b"RF64")
        else:
            shown = head[:8].decode("latin-1")
            raise NotAudio("not a WAV or FLAC file (it starts with "
                           f"{shown!r})" if head else "the file is empty")
    if not MIN_RATE <= info.rate <= MAX_RATE:
        raise NotAudio(f"a sample rate of {info.rate} Hz (racines mixes {MIN_RATE} to {MAX_RATE} Hz)")
    if not 1 <= info.channels <= MAX_CHANNELS:
        raise NotAudio(f"{info.channels} channels (racines mixes 1 to {MAX_CHANNELS})",
                       "export a stereo or mono version")
    if info.samples == 0:
        raise NotAudio("the recording holds no sound (0 samples)", DAMAGED_FIX)
    if info.samples > MAX_SECONDS * info.rate:
        raise NotAudio(f"the header says {info.samples} samples, more than a day at {info.rate} Hz", DAMAGED_FIX)
    return info


def _chunks(handle: BinaryIO, end: int):
    """(id, size, payload offset) of each RIFF chunk after the 12-byte header."""
    offset = 12
    while offset + 8 <= end:
        handle.seek(offset)
        kind, size = struct.unpack("<4sI", handle.read(8))
        yield kind, size, offset + 8
        offset += 8 + size + (size & 1)  # chunks are padded to an even size


def _wav(handle: BinaryIO, file_size: int, rf64: bool) -> AudioInfo:
    fmt = None
    data_size = None
    long_data = None
    for kind, size, at in _chunks(handle, file_size):
        if kind == b"ds64" and rf64:
            handle.seek(at)
            ds64 = handle.read(24)
            if len(ds64) == 24:
                long_data = struct.unpack("<QQQ", ds64)[1]
        elif kind == b"fmt ":
            handle.seek(at)
            fmt = handle.read(min(size, 40))
        elif kind == b"data":
            data_size = long_data if rf64 and size == 0xFFFFFFFF and long_data is not None else size
            available = file_size - at
            if data_size == 0xFFFFFFFF or (data_size == 0 and available > 0):
                data_size = available  # written while streaming: the sound runs to the end of the file
            if data_size > available:
                raise NotAudio(_truncated(fmt, data_size, available), DAMAGED_FIX)
            break
    if fmt is None or len(fmt) < 16:
        raise NotAudio("a WAV file without a readable format chunk", DAMAGED_FIX)
    if data_size is None:
        raise NotAudio("a WAV file without sound data (no data chunk)", DAMAGED_FIX)
    tag, channels, rate, _, align, bits = struct.unpack("<HHIIHH", fmt[:16])
    if tag == WAV_EXTENSIBLE and len(fmt) >= 26:
        tag = struct.unpack("<H", fmt[24:26])[0]  # the sub-format GUID's first two bytes
    codecs = {WAV_PCM: PCM_CODECS, WAV_FLOAT: FLOAT_CODECS}.get(tag)
    if codecs is None or bits not in codecs:
        kind = {WAV_PCM: "PCM", WAV_FLOAT: "float"}.get(tag, f"format tag 0x{tag:04x}")
        raise NotAudio(f"a WAV file of {bits}-bit {kind} audio, which racines does not mix")
    if channels == 0 or align != channels * bits // 8:
        raise NotAudio(f"the WAV header is inconsistent ({channels} channels of {bits} bits in blocks of {align} "
                       "bytes)", DAMAGED_FIX)
    return AudioInfo(codecs[bits], rate, channels, bits, data_size // align)


def _truncated(fmt: bytes | None, promised: int, available: int) -> str:
    if fmt is not None and len(fmt) >= 16:
        align = struct.unpack("<H", fmt[12:14])[0] or 1
        return (f"the file is truncated: its header promises {promised // align} samples, the file holds "
                f"{available // align}")
    return f"the file is truncated: its header promises {promised} bytes of sound, the file holds {available}"


def _flac(handle: BinaryIO) -> AudioInfo:
    handle.seek(4)
    header = handle.read(4 + 34)
    if len(header) < 38 or header[0] & 0x7F != 0:
        raise NotAudio("a FLAC file without its stream information", DAMAGED_FIX)
    bits64 = int.from_bytes(header[4 + 10:4 + 18], "big")
    rate = bits64 >> 44
    channels = ((bits64 >> 41) & 0x7) + 1
    bits = ((bits64 >> 36) & 0x1F) + 1
    samples = bits64 & ((1 << 36) - 1)
    if samples == 0:
        raise NotAudio("the FLAC file does not say how long it is", "encode it again, e.g. with flac or ffmpeg")
    return AudioInfo("flac", rate, channels, bits, samples)
