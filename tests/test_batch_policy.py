"""The batch's retry policy, as a table (OpenCue's FrameCompleteHandlerFrameStateTests style):
failure x attempts x policy -> kind, retry or not, delay."""

from __future__ import annotations

import signal

import pytest

from racines.batch.policy import (
    ERROR,
    FIXES,
    INTERRUPTED,
    INVALID_INPUT,
    IO_ERROR,
    KINDS,
    MISSING_MODEL,
    OUT_OF_MEMORY,
    RENDER_FAILED,
    WORKER_LOST,
    RetryPolicy,
    decide,
)

DEFAULT = RetryPolicy(max_attempts=3, backoff_s=30, backoff_cap_s=600)
NO_RETRIES = RetryPolicy(max_attempts=1)
PATIENT = RetryPolicy(max_attempts=5, backoff_s=100, backoff_cap_s=250)

TABLE = [
    # (case, error type, message, signal, failed attempts, policy) -> (kind, retry, delay)
    ("truncated photograph", "NotAnImage", "cat.jpg: the photograph cannot be decoded", None, 1, DEFAULT,
     INVALID_INPUT, False, 0),
    ("bad shot file", "ValidationFailed", "2 problems in the shot files", None, 1, DEFAULT, INVALID_INPUT, False, 0),
    ("model inputs rejected", "InputsRejected", "width must be a multiple of 8", None, 1, DEFAULT,
     INVALID_INPUT, False, 0),
    ("model not installed", "ModelMissing", "wan2.1-flf2v is not on this machine", None, 1, DEFAULT,
     MISSING_MODEL, False, 0),
    ("model missing or refused, from a generator", "ModelUnavailable",
     "shots/s030.yaml: final.model: the model 'svd-xt' is not in the Hugging Face cache", None, 1, DEFAULT,
     MISSING_MODEL, False, 0),
    ("diffusers missing file", "OSError", "models/svd does not appear to have a file named model_index.json",
     None, 1, DEFAULT, MISSING_MODEL, False, 0),
    ("CUDA OOM, first", "OutOfMemoryError", "CUDA out of memory. Tried to allocate 2.00 GiB", None, 1, DEFAULT,
     OUT_OF_MEMORY, True, 60),
    ("CUDA OOM as RuntimeError, second", "RuntimeError", "CUDA error: out of memory", None, 2, DEFAULT,
     OUT_OF_MEMORY, True, 120),
    ("OOM, retries exhausted", "OutOfMemoryError", "CUDA out of memory", None, 3, DEFAULT, OUT_OF_MEMORY, False, 0),
    ("host memory", "MemoryError", "", None, 1, DEFAULT, OUT_OF_MEMORY, True, 60),
    ("worker SIGKILLed, first", "WorkerDied", "died without a result", signal.SIGKILL, 1, DEFAULT,
     WORKER_LOST, True, 30),
    ("worker SIGKILLed, second", "WorkerDied", "died without a result", signal.SIGKILL, 2, DEFAULT,
     WORKER_LOST, True, 60),
    ("worker lost, exhausted", "WorkerDied", "", signal.SIGSEGV, 3, DEFAULT, WORKER_LOST, False, 0),
    ("worker exited without result", "WorkerDied", "exit status 1", None, 1, DEFAULT, WORKER_LOST, True, 30),
    ("ray worker crashed", "WorkerCrashedError", "The worker died unexpectedly", None, 1, DEFAULT,
     WORKER_LOST, True, 30),
    ("ray node died", "NodeDiedError", "node 10.0.0.7 died", None, 2, DEFAULT, WORKER_LOST, True, 60),
    ("ffmpeg failed once", "RenderFailed", "ffmpeg failed while encoding take s020 v003 (exit 1)", None, 1,
     DEFAULT, RENDER_FAILED, True, 30),
    ("ffmpeg failed twice", "RenderFailed", "ffmpeg failed while encoding take s020 v003 (exit 1)", None, 2,
     DEFAULT, RENDER_FAILED, False, 0),
    ("ffmpeg, disk full", "RenderFailed", "ffmpeg failed: No space left on device", None, 2, DEFAULT,
     IO_ERROR, True, 60),
    ("disk full", "OSError", "[Errno 28] No space left on device", None, 1, DEFAULT, IO_ERROR, True, 30),
    ("network share", "OSError", "[Errno 116] Stale file handle", None, 2, DEFAULT, IO_ERROR, True, 60),
    ("plain OSError", "OSError", "[Errno 5] Input/output error", None, 3, DEFAULT, IO_ERROR, False, 0),
    ("generator bug", "ZeroDivisionError", "division by zero", None, 1, DEFAULT, ERROR, False, 0),
    ("permission", "PermissionError", "[Errno 13] Permission denied: 'renders/takes'", None, 1, DEFAULT,
     ERROR, False, 0),
    ("interrupted", "KeyboardInterrupt", "", None, 1, DEFAULT, INTERRUPTED, False, 0),
    ("worker terminated by someone", "WorkerDied", "", signal.SIGTERM, 1, DEFAULT, WORKER_LOST, True, 30),
    ("ray task cancelled", "TaskCancelledError", "", None, 1, DEFAULT, INTERRUPTED, False, 0),
    ("--retries 0", "WorkerDied", "", signal.SIGKILL, 1, NO_RETRIES, WORKER_LOST, False, 0),
    ("--retries 0, OOM", "OutOfMemoryError", "", None, 1, NO_RETRIES, OUT_OF_MEMORY, False, 0),
    ("backoff capped", "WorkerDied", "", signal.SIGKILL, 3, PATIENT, WORKER_LOST, True, 250),
    ("more attempts allowed", "OutOfMemoryError", "", None, 4, PATIENT, OUT_OF_MEMORY, True, 250),
    ("render failures keep their own limit", "RenderFailed", "exit 1", None, 2, PATIENT, RENDER_FAILED, False, 0),
    ("no backoff", "WorkerDied", "", signal.SIGKILL, 1, RetryPolicy(backoff_s=0), WORKER_LOST, True, 0),
]


@pytest.mark.parametrize("case, error_type, message, sig, attempts, policy, kind, retry, delay", TABLE,
                         ids=[row[0] for row in TABLE])
def test_retry_policy(case, error_type, message, sig, attempts, policy, kind, retry, delay):
    decision = decide(error_type, message, attempts, policy, sig)
    assert (decision.kind, decision.retry, decision.delay_s) == (kind, retry, delay)
    assert decision.reason.startswith(kind)
    if retry:
        assert f"attempt {attempts + 1} of" in decision.reason


def test_every_kind_has_a_fix_and_appears_in_the_table():
    assert set(FIXES) == set(KINDS)
    assert {row[6] for row in TABLE} == set(KINDS)


def test_attempts_are_counted_from_one():
    with pytest.raises(ValueError, match="at least 1"):
        decide("WorkerDied", "", 0, DEFAULT)
