"""``racines serve``: the review room on a socket, until Ctrl-C.

On 127.0.0.1 by default: a room for the person at this machine, who decides as the user
running it, like the command line. ``--share`` listens on every interface and lets in only
the people of ``renders/review-tokens.yaml``, each with a link of their own.
"""

from __future__ import annotations

import socket
from collections.abc import Callable
from pathlib import Path

import uvicorn

from racines.core.identity import current_user
from racines.errors import UsageError
from racines.review.access import TOKENS_FILE, people
from racines.review.server import create_app
from racines.review.state import Project


def listen(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP named: asyncio turns Nagle's algorithm off only on sockets that say so, and a
    # page answered in two writes would otherwise wait for the browser's delayed ACK (40 ms)
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise UsageError(f"cannot listen on {host}:{port} ({exc.strerror})\n"
                         "    fix: choose another --port (0: any free port)") from None
    sock.listen(128)  # from now on a browser's connection waits for the server rather than being refused
    return sock


def serve(root: Path, port: int, share: bool = False, host: str | None = None, profile: str | None = None,
          echo: Callable[[str], None] = print) -> None:
    if not (Path(root) / "shots" / "film.yaml").is_file():
        raise UsageError(f"{root} holds no shots/film.yaml\n    fix: run racines serve in the film's folder, "
                         "or give --project DIR")
    host = host or ("0.0.0.0" if share else "127.0.0.1")
    loopback = host in ("127.0.0.1", "localhost", "::1")
    if not loopback and not share:
        raise UsageError(f"listening on {host} lets other machines in\n    fix: add --share, which gives each "
                         "person a token of their own")
    project = Project(root, profile)
    tokens = people(project.root, current_user()) if share else None
    sock = listen(host, port)
    port = sock.getsockname()[1]
    snapshot = project.snapshot()  # the first look at the film, before the first page asks for it
    title = snapshot.film.title if snapshot.film else project.root.name
    shown = f"[{host}]" if ":" in host else host
    echo(f"review room of {title}: http://{shown}:{port}/")
    if tokens is not None:
        here = socket.gethostname()
        for name, token in tokens.items():
            echo(f"  {name}: http://{here}:{port}/?token={token}")
        echo(f"  (one link per person, from {TOKENS_FILE.as_posix()}: add a line 'name: token' for each)")
    if snapshot.error:
        echo(f"note: the film does not load yet; the page says why:\n{snapshot.error}")
    echo("Ctrl-C stops it")
    app = create_app(project, tokens, loopback_only=loopback and not share)
    uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off")).run(sockets=[sock])
