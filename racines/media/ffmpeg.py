"""Run ffmpeg graphs built with ffmpeg-python, streaming raw frames through pipes.

ffmpeg-python only builds the argument list here; the process is started with
``subprocess`` so that stderr goes to a temporary file (an unread stderr pipe deadlocks
a long encode) and a failure reports ffmpeg's last lines.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from functools import lru_cache

import ffmpeg
import numpy as np

from racines.errors import RenderFailed


@lru_cache(maxsize=1)
def ffmpeg_exe() -> str:
    """``$RACINES_FFMPEG``, else the ffmpeg shipped by imageio-ffmpeg (a pinned, full build)."""
    chosen = os.environ.get("RACINES_FFMPEG")
    if chosen:
        return chosen
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


@lru_cache(maxsize=1)
def ffmpeg_version() -> str:
    out = subprocess.run([ffmpeg_exe(), "-hide_banner", "-version"], capture_output=True, text=True, check=False)
    first = out.stdout.splitlines()[0] if out.stdout else "unknown"
    return first.replace("ffmpeg version ", "").split(" Copyright")[0]


def ffprobe_exe() -> str | None:
    return os.environ.get("RACINES_FFPROBE") or shutil.which("ffprobe")


def frame_bytes(width: int, height: int, pix_fmt: str) -> int:
    per_pixel = {"rgb24": 3, "yuv422p10le": 4, "gray": 1}[pix_fmt]
    return width * height * per_pixel


class _Process:
    """One ffmpeg process whose stderr is kept in a temporary file for error reports."""

    def __init__(self, stream, what: str, metadata: dict[str, dict[str, str]] | None = None, **pipes):
        self.what = what
        self.args = stream.compile(cmd=ffmpeg_exe(), overwrite_output=True)
        self._files: list[str] = []
        self._add_metadata(metadata or {})
        self.args[1:1] = ["-hide_banner", "-nostdin", "-loglevel", "error"]
        if pipes.get("stdin"):
            self.args.remove("-nostdin")
        self._log = tempfile.TemporaryFile()
        try:
            self.proc = subprocess.Popen(self.args, stderr=self._log, **pipes)
        except BaseException:
            self._close()
            raise

    def _add_metadata(self, metadata: dict[str, dict[str, str]]) -> None:
        """Container metadata for each output, read from an ffmetadata file rather than given on
        the command line, where a long tag (a take's provenance) passes the kernel's limit on one
        argument (128 kB: 'Argument list too long')."""
        inputs = self.args.count("-i")
        after_inputs = len(self.args) - self.args[::-1].index("-i") + 1 if inputs else 1  # behind the last -i X
        for output, items in metadata.items():
            # beside the output (a take's staging folder): a killed process leaves it where the
            # next run sweeps what was half-written, not in /tmp
            folder = os.path.dirname(output)
            fd, name = tempfile.mkstemp(prefix=".metadata.", suffix=".partial.ffmetadata",
                                        dir=folder if folder and os.path.isdir(folder) else None)
            self._files.append(name)
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(ffmetadata(items))
            self.args[after_inputs:after_inputs] = ["-f", "ffmetadata", "-i", name]
            after_inputs += 4
            at = self.args.index(output)
            self.args[at:at] = ["-map_metadata", str(inputs)]
            inputs += 1

    def _close(self) -> None:
        self._log.close()
        for name in self._files:
            try:
                os.unlink(name)
            except OSError:
                pass

    def error_tail(self) -> str:
        self._log.seek(0)
        lines = self._log.read().decode("utf-8", "replace").strip().splitlines()
        return "\n".join(lines[-12:]) or "(ffmpeg printed nothing)"

    def finish(self) -> None:
        code = self.proc.wait()
        try:
            if code != 0:
                raise RenderFailed(f"ffmpeg failed while {self.what} (exit {code}):\n{self.error_tail()}")
        finally:
            self._close()

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        self._close()


def ffmetadata(tags: dict[str, str]) -> str:
    """Tags in ffmpeg's metadata file format: '=', ';', '#', backslash and line breaks escaped
    with a backslash; NUL, which no C string holds, left out."""
    def escape(text: str) -> str:
        return re.sub(r"([=;#\\\n])", r"\\\1", text.replace("\0", "").replace("\r\n", "\n").replace("\r", "\n"))

    return ";FFMETADATA1\n" + "".join(f"{escape(key)}={escape(value)}\n" for key, value in tags.items())


class FrameWriter:
    """Feed raw frames to an ffmpeg graph whose input is ``pipe:``; use as a context manager."""

    def __init__(self, stream, what: str, metadata: dict[str, dict[str, str]] | None = None):
        self._process = _Process(stream, what, metadata, stdin=subprocess.PIPE)

    def write(self, frame: np.ndarray | bytes | memoryview) -> None:
        try:
            self._process.proc.stdin.write(frame if isinstance(frame, (bytes, memoryview)) else frame.data)
        except BrokenPipeError:
            self._process.proc.wait()
            raise RenderFailed(f"ffmpeg stopped while {self._process.what}:\n{self._process.error_tail()}") from None

    def end_input(self) -> None:
        """Tell ffmpeg the frames are done, so that it flushes while other work goes on."""
        try:
            self._process.proc.stdin.close()
        except BrokenPipeError:
            pass

    def __enter__(self) -> FrameWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.end_input()
            self._process.finish()
        else:
            self._process.kill()


def read_frames(stream, width: int, height: int, pix_fmt: str, what: str) -> Iterator[bytes]:
    """Yield each raw frame an ffmpeg graph writes to ``pipe:`` as bytes."""
    size = frame_bytes(width, height, pix_fmt)
    process = _Process(stream, what, stdout=subprocess.PIPE)
    try:
        while True:
            chunk = process.proc.stdout.read(size)
            if not chunk:
                break
            if len(chunk) != size:
                raise RenderFailed(f"ffmpeg returned a partial frame while {what}")
            yield chunk
        process.proc.stdout.close()
        process.finish()
    except BaseException:
        process.kill()
        raise


def raw_input(width: int, height: int, rate: str, pix_fmt: str = "rgb24"):
    return ffmpeg.input("pipe:", format="rawvideo", pix_fmt=pix_fmt, s=f"{width}x{height}", framerate=rate)


def run(stream, what: str) -> None:
    """Run a graph with no pipes (e.g. a probe-free transcode) and raise with ffmpeg's words on failure."""
    process = _Process(stream, what)
    process.finish()


def run_reporting(stream, what: str) -> str:
    """Run a graph like :func:`run` and return ffmpeg's log at the info level, where filters
    report what they measured (loudnorm's JSON, ebur128's summary)."""
    args = stream.compile(cmd=ffmpeg_exe(), overwrite_output=True)
    args[1:1] = ["-hide_banner", "-nostdin", "-nostats", "-loglevel", "info"]
    done = subprocess.run(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                          check=False)
    log = done.stderr.decode("utf-8", "replace")
    if done.returncode != 0:
        tail = "\n".join(log.strip().splitlines()[-12:])
        raise RenderFailed(f"ffmpeg failed while {what} (exit {done.returncode}):\n{tail}")
    return log
