"""glibc's allocator, tuned for frame-sized arrays.

By default glibc gives each allocation above a threshold (128 KiB, rising as such blocks
are freed) its own mapping, unmapped when freed, and hands the free top of the heap back to
the kernel. A generator that makes and drops a dozen frame-sized temporaries per frame then
gets fresh pages each time, which the kernel must fault in and zero: a morph at 1280x720
spent a quarter of its time in the kernel (26.0 s, 7.4 s of it system time; tuned: 18.8 s,
1.3 s system, and 4 % more peak memory). Up to 32 MiB (glibc's ceiling for this setting:
a 4K RGB frame in float32 is larger and keeps its own mapping) is served from the heap, and
up to 256 MiB of free heap is kept for the next frame.
"""

from __future__ import annotations

import ctypes
import sys

M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 32 * 1024 * 1024
TRIM_THRESHOLD = 256 * 1024 * 1024


def keep_frame_memory() -> bool:
    """Tune this process (and the processes it forks); False where the C library is not glibc."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):  # musl and others have no mallopt
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD))
