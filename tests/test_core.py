"""The bottom layer: atomic files keep the process's umask, read without ever changing it."""

from __future__ import annotations

import os
import stat
import threading

from racines.core.atomic import atomic_path, staging_dir


def test_publishing_a_file_reads_the_umask_without_setting_it(tmp_path, monkeypatch):
    calls = []
    real = os.umask
    monkeypatch.setattr(os, "umask", lambda mask: calls.append(mask) or real(mask))
    with atomic_path(tmp_path / "take.json") as tmp:
        tmp.write_text("{}")
    with staging_dir(tmp_path, "take"):
        pass
    # os.umask can only read the mask by setting it: another thread's file made meanwhile gets 0666
    assert calls == []


def test_files_made_while_others_are_published_keep_the_umask(tmp_path):
    old = os.umask(0o022)
    try:
        stop = threading.Event()

        def publish(index: int) -> None:
            count = 0
            while not stop.is_set():
                with atomic_path(tmp_path / f"piece{index}.mov") as tmp:
                    tmp.write_bytes(b"frames")
                count += 1

        workers = [threading.Thread(target=publish, args=(i,)) for i in range(2)]
        for worker in workers:
            worker.start()
        modes = set()
        try:
            for n in range(3000):
                path = tmp_path / f"plain{n}"
                with open(path, "w") as handle:  # what an ffmpeg child or another thread makes
                    handle.write("x")
                modes.add(stat.S_IMODE(path.stat().st_mode))
                path.unlink()
        finally:
            stop.set()
            for worker in workers:
                worker.join()
        assert modes == {0o644}
        assert stat.S_IMODE((tmp_path / "piece0.mov").stat().st_mode) == 0o644
    finally:
        os.umask(old)
