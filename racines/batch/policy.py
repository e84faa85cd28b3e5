"""What to do after a shot's attempt failed: the batch's whole retry policy, as pure functions.

As in OpenCue (``FrameCompleteHandler.determineFrameState``), the decision is one small
function of plain values with a table of tests, and nothing else in the batch decides
whether to try again. Failures are first sorted into kinds from the exception's type name
and message (plain strings, so that a failure that crossed a process or a Ray boundary is
judged the same way) by :func:`classify`; then :func:`decide` says retry (after how long) or
give up.

Deterministic failures (a damaged photograph, a missing model, a bug) are never retried: a
second attempt costs GPU time and fails the same way. Failures of the machine (a worker
that died, memory, the disk, a network share) are retried with exponential backoff.
"""

from __future__ import annotations

from dataclasses import dataclass

from racines.generators.diffusion.memory import is_out_of_memory

INVALID_INPUT = "invalid input"     # shot file, photograph, consent: the project must be fixed
MISSING_MODEL = "missing model"     # weights not installed on this machine
OUT_OF_MEMORY = "out of memory"     # GPU or host memory (every spelling: CUDA, cuBLAS, cuDNN, ROCm, MPS): another job may free it
WORKER_LOST = "worker lost"         # the process or node running the shot died
IO_ERROR = "i/o error"              # disk full, network share, device: often transient
RENDER_FAILED = "render failed"     # ffmpeg failed: usually deterministic, tried once more
ERROR = "error"                     # any other exception: a bug in a generator or in racines
INTERRUPTED = "interrupted"         # the batch itself was stopped

KINDS = (INVALID_INPUT, MISSING_MODEL, OUT_OF_MEMORY, WORKER_LOST, IO_ERROR, RENDER_FAILED, ERROR, INTERRUPTED)

#: the most attempts each kind may have; None means the policy's ``max_attempts``
_ATTEMPTS = {INVALID_INPUT: 1, MISSING_MODEL: 1, ERROR: 1, INTERRUPTED: 1, RENDER_FAILED: 2,
             OUT_OF_MEMORY: None, WORKER_LOST: None, IO_ERROR: None}

#: what the person reading the dailies can do about each kind
FIXES = {
    INVALID_INPUT: "correct the shot file or the photograph named above, then run the batch again",
    MISSING_MODEL: "install the model where the message says, then run the batch again",
    OUT_OF_MEMORY: "free memory on the machine (other jobs), use a lighter profile, or run with --jobs 1",
    WORKER_LOST: "see the shot's log and the machine's (dmesg for the out-of-memory killer); "
                 "the next batch tries again",
    IO_ERROR: "check free disk space and the project folder's mount; the next batch tries again",
    RENDER_FAILED: "see ffmpeg's words in the shot's log",
    ERROR: "a bug in a generator or in racines: report it with the shot's log",
    INTERRUPTED: "run the batch again: finished takes are kept",
}

_INVALID_TYPES = {"UsageError", "ValidationFailed", "ConsentRefused", "NotAnImage", "PathRefused",
                  "InputsRejected", "UnidentifiedImageError", "DecompressionBombError"}
_MODEL_TYPES = {"ModelUnavailable", "ModelMissing", "UnknownModel", "LocalEntryNotFoundError", "RepositoryNotFoundError",
                "RevisionNotFoundError", "EntryNotFoundError"}
_MEMORY_TYPES = {"OutOfMemoryError", "MemoryError"}
# Ray's exceptions for a task whose worker, node or object went away (not the task's own error)
_LOST_TYPES = {"WorkerDied", "WorkerCrashedError", "NodeDiedError", "LocalRayletDiedError", "ObjectLostError",
               "OwnerDiedError", "ObjectReconstructionFailedError", "RaySystemError", "ActorDiedError",
               "BrokenProcessPool"}
_IO_TYPES = {"OSError", "IOError", "BlockingIOError", "TimeoutError", "ConnectionError", "ConnectionResetError",
             "BrokenPipeError", "InterruptedError"}
_IO_WORDS = ("no space left on device", "disk quota exceeded", "input/output error", "stale file handle",
             "read-only file system", "connection reset", "transport endpoint is not connected")


def classify(error_type: str, message: str = "", exit_signal: int | None = None) -> str:
    """The kind of a failure, from the exception's type name and message (or the signal that
    killed the worker). Order matters: the most specific evidence wins."""
    text = message.lower()
    if error_type in ("KeyboardInterrupt", "TaskCancelledError"):
        return INTERRUPTED  # a worker killed by a signal was lost, whichever signal: the batch was not stopped
    if error_type in _MODEL_TYPES or ("model" in text and ("not found" in text or "does not appear to have" in text)):
        return MISSING_MODEL
    if error_type in _MEMORY_TYPES or is_out_of_memory(error_type, message):
        return OUT_OF_MEMORY
    if error_type in _LOST_TYPES or exit_signal is not None:
        return WORKER_LOST
    if error_type in _INVALID_TYPES:
        return INVALID_INPUT
    if any(words in text for words in _IO_WORDS):
        return IO_ERROR
    if error_type == "RenderFailed":
        return RENDER_FAILED
    if error_type in _IO_TYPES:
        return IO_ERROR
    return ERROR


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 3        # attempts in all for a retryable failure, the first one included
    backoff_s: float = 30.0      # wait before the second attempt; doubles with each attempt after
    backoff_cap_s: float = 600.0


@dataclass(frozen=True)
class Decision:
    kind: str          # one of KINDS
    retry: bool
    delay_s: float     # how long to wait before the next attempt
    reason: str        # one line for the log and the dailies


def decide(error_type: str, message: str, attempts: int, policy: RetryPolicy,
           exit_signal: int | None = None) -> Decision:
    """The retry policy. After ``attempts`` failed attempts of a shot, the last one failing with
    an exception named ``error_type`` (or a worker killed by ``exit_signal``): try again, and when?"""
    if attempts < 1:
        raise ValueError(f"attempts counts the failed attempts, at least 1 (got {attempts})")
    kind = classify(error_type, message, exit_signal)
    if kind == INTERRUPTED:
        return Decision(kind, False, 0.0, "interrupted: the batch stopped; the next batch tries again")
    if _ATTEMPTS[kind] == 1:
        return Decision(kind, False, 0.0, f"{kind}: not retried, another attempt would fail the same way")
    limit = min(_ATTEMPTS[kind] or policy.max_attempts, policy.max_attempts)
    if attempts >= limit:
        return Decision(kind, False, 0.0, f"{kind}: gave up after {attempts} attempt{'s' if attempts != 1 else ''}")
    delay = policy.backoff_s * 2 ** (attempts - 1)
    if kind == OUT_OF_MEMORY:
        delay *= 2  # give the job that holds the memory time to finish
    delay = min(delay, policy.backoff_cap_s)
    return Decision(kind, True, delay, f"{kind}: attempt {attempts + 1} of {limit} in {delay:g} s")
