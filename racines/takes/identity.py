"""Who and where: recorded in manifests and review decisions."""

from __future__ import annotations

import getpass
import platform
import socket


def current_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def machine() -> dict[str, str]:
    return {"host": socket.gethostname(), "platform": platform.platform(), "user": current_user()}
