"""The film's pieces encoded in the batch's idle slots, before the film phase.

Near the end of a batch, shots wait on others (the credits on every take) and the last long
shots run while the other slots have nothing to start. Those slots encode the film's pieces
whose takes are settled (made, found, or failed for good), under the keys the film's render
uses, so that the render finds them cached and encodes only the rest. The work runs in its
own process: the batch's scheduler keeps watching the workers, and the process is stopped
between two pieces when a shot needs its slot. Pieces are written atomically; what a killed
process leaves half-written is swept by the film's render.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import sys

from racines.allocator import keep_frame_memory
from racines.batch.executors import die_with_parent
from racines.film.model import Film, Shot
from racines.pipeline import EDL_DIR, RENDERS_DIR, cut_timeline
from racines.render.deliver import encode_pieces_ahead
from racines.takes.reviews import load_review, selected_take
from racines.takes.store import Take, TakeStore

STOPPED_EARLY = 3  # exit status of a process asked to give its slot back before it was done


def settled_timeline(film: Film, pending: frozenset[str]):
    """The cut as the film's render will see it for every shot not in ``pending``, with a
    stand-in take for each pending one; and the media of the settled takes."""
    store = TakeStore(film.root)
    takes, ready = {}, set()
    for shot in film.shots_in_cut():
        take = None if shot.id in pending else selected_take(store, load_review(film.root, shot.id))
        if take is None:
            take = _stand_in(film, shot, store)
        else:
            ready.add(take.media.resolve())
        takes[shot.id] = take
    return cut_timeline(film, takes), ready


def _stand_in(film: Film, shot: Shot, store: TakeStore) -> Take:
    """A take that is not there yet: the right length, a media path that no piece reads."""
    manifest = {"media": {"editorial": "pending.mov", "lossless": "pending.mkv", "reel": "PENDING"},
                "frames": shot.frames + 2 * film.handles, "handles": film.handles, "cache_key": ""}
    return Take(shot.id, "pending", store.shot_folder(shot.id) / ".pending", manifest)


def _main(film: Film, pending: frozenset[str], review: bool, stop, encoded, parent: int) -> None:
    die_with_parent(parent)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the batch handles Ctrl-C, and stops this process
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    keep_frame_memory()  # a spawned process starts with glibc's defaults
    # the CPU the shots leave idle, not CPU they would use: a shot still running wants more
    # than its slot's core at moments, and the pieces (and their ffmpeg, which inherit it) yield
    os.nice(10)
    try:
        timeline, ready = settled_timeline(film, pending)

        def keep_going() -> bool:
            return not stop.is_set()

        def counted() -> None:
            with encoded.get_lock():
                encoded.value += 1

        encode_pieces_ahead(timeline, film.root / EDL_DIR, film.root / RENDERS_DIR, film.width, film.height,
                            film.rate, ready, review, keep_going, counted)
    except BaseException:  # noqa: BLE001 - the film's render encodes whatever is missing, and reports errors
        os._exit(1)
    os._exit(STOPPED_EARLY if stop.is_set() else 0)


class FilmAhead:
    """One process at a time encoding the settled pieces; ``offer`` it an idle slot."""

    def __init__(self, film: Film, review: bool, fork: bool):
        self.film, self.review = film, review
        # fork is only safe while the batch process has no other threads (not with a Ray driver)
        fork = fork and sys.platform.startswith("linux")
        self._context = multiprocessing.get_context("fork" if fork else "spawn")
        self._encoded = self._context.Value("i", 0)
        self._process = None
        self._stop = None
        self._pending: frozenset[str] = frozenset()
        self._done_for: frozenset[str] | None = None  # the pending shots of the last complete pass

    @property
    def encoded(self) -> int:
        return self._encoded.value

    def running(self) -> bool:
        return self._process is not None and self._process.is_alive()

    def offer(self, pending: frozenset[str]) -> None:
        """A slot is idle while ``pending`` shots are still to come: encode what is settled,
        unless a pass over the same settled shots already went through."""
        if self.running():
            return
        self._reap()
        if pending == self._done_for or pending.issuperset(self.film.cut):
            return
        self._stop = self._context.Event()
        self._process = self._context.Process(
            target=_main, args=(self.film, pending, self.review, self._stop, self._encoded, os.getpid()),
            name="racines batch: film pieces ahead", daemon=True)
        self._process.start()
        self._pending = pending

    def give_back(self) -> None:
        """A shot needs the slot: stop after the piece in hand (it is kept)."""
        if self.running():
            self._stop.set()

    def finish(self) -> None:
        """Before the film's render: let the piece in hand be written, then stop."""
        self.give_back()
        if self._process is not None:
            self._process.join()
        self._reap()

    def kill(self) -> None:
        if self._process is not None:
            self._process.kill()
            self._process.join()
            self._process = None

    def _reap(self) -> None:
        if self._process is not None and not self._process.is_alive():
            self._process.join()
            # done, or failed (the film's render meets the same error and reports it): either
            # way not again for the same shots; stopped early, it may go on with the next idle slot
            if self._process.exitcode != STOPPED_EARLY:
                self._done_for = self._pending
            self._process = None
