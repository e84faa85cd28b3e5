"""The allocator keeps frame-sized memory for the next frame instead of faulting in fresh,
zeroed pages each time (counted as the process's minor page faults)."""

from __future__ import annotations

import subprocess
import sys

import pytest

CHURN = """
import resource, sys
import numpy as np
from racines.core.allocator import keep_frame_memory
tuned = keep_frame_memory() if sys.argv[1] == "tuned" else False
frame = np.ones((720, 1280, 3), np.float32)  # 11 MB: above glibc's default threshold
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(50):
    frame = (frame * 0.5 + 0.25).astype(np.float32)  # temporaries made and dropped, as a generator does
print(tuned, resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def faults(mode: str) -> tuple[str, int]:
    out = subprocess.run([sys.executable, "-c", CHURN, mode], capture_output=True, text=True, check=True).stdout
    tuned, count = out.split()
    return tuned, int(count)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
def test_frame_sized_temporaries_reuse_their_pages():
    (_, default), (tuned, kept) = faults("default"), faults("tuned")
    assert tuned == "True"
    pages = 720 * 1280 * 3 * 4 // 4096
    # by default the freed top of the heap goes back to the kernel and is faulted in again
    assert default > 5 * pages and kept < 2 * pages and default > 4 * kept, (default, kept)
