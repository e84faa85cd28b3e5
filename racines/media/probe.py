"""Read the metadata tags embedded in a media file, with the ffmpeg racines ships
(ffprobe is not required at run time)."""

from __future__ import annotations

import subprocess
from pathlib import Path

from racines.errors import RenderFailed
from racines.media.ffmpeg import ffmpeg_exe


def read_tags(path: Path) -> dict[str, str]:
    """Global tags of ``path``, parsed from ffmpeg's ffmetadata output."""
    out = subprocess.run([ffmpeg_exe(), "-v", "error", "-i", str(path), "-f", "ffmetadata", "-"],
                         capture_output=True, check=False)
    if out.returncode != 0:
        raise RenderFailed(f"could not read the metadata of {path}: {out.stderr.decode(errors='replace').strip()}")
    return parse_ffmetadata(out.stdout.decode("utf-8", "replace"))


def parse_ffmetadata(text: str) -> dict[str, str]:
    tags: dict[str, str] = {}
    lines = iter(text.splitlines())
    for line in lines:
        if not line or line.startswith((";", "#", "[")):
            if line.startswith("["):
                break  # stream and chapter sections follow the global tags
            continue
        while line.endswith("\\") and not line.endswith("\\\\"):  # an escaped newline continues the value
            line = line[:-1] + "\n" + next(lines, "")
        key, _, value = _split_unescaped(line)
        tags[_unescape(key)] = _unescape(value)
    return tags


def _split_unescaped(line: str) -> tuple[str, str, str]:
    escaped = False
    for position, char in enumerate(line):
        if char == "=" and not escaped:
            return line[:position], "=", line[position + 1:]
        escaped = char == "\\" and not escaped
    return line, "", ""


def _unescape(text: str) -> str:
    out, escaped = [], False
    for char in text:
        if escaped or char != "\\":
            out.append(char)
            escaped = False
        else:
            escaped = True
    return "".join(out)
