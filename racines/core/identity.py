"""Who and where: recorded in manifests and review decisions; the cores this process may use."""

from __future__ import annotations

import getpass
import os
import platform
import socket


def current_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def machine() -> dict[str, str]:
    return {"host": socket.gethostname(), "platform": platform.platform(), "user": current_user()}


def cpu_cores() -> int:
    """The cores this process may run on (its affinity, e.g. under taskset or a cgroup)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1
