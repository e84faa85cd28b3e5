"""Who may use the review room, and which requests may change anything.

* **Host.** Listening on 127.0.0.1, only requests addressed to a loopback name are answered,
  so that a web page cannot reach the room through a name of its own that resolves to
  127.0.0.1 (DNS rebinding).
* **People.** With ``--share`` every request needs a person's token (``renders/review-tokens.yaml``,
  one ``name: token`` line each; ``renders/`` is never committed). A link carrying
  ``?token=`` sets an HttpOnly, SameSite=Strict cookie and redirects to the same page without
  it, so that the token stays out of the history and of Referer headers; scripts may send
  ``Authorization: Bearer TOKEN``. The person's name is who each decision records.
* **Writes.** A request that changes anything must come from the room's own pages: the
  browser's ``Sec-Fetch-Site`` must say ``same-origin`` and its ``Origin`` must be the room's,
  when the browser sends them, and in every case the ``X-Racines-CSRF`` header must carry the
  page's token, which another site's page can neither read nor send (the room grants no CORS).
* **Every answer** carries a Content-Security-Policy that allows nothing from elsewhere and no
  inline script, and forbids framing and MIME sniffing.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
from pathlib import Path
from urllib.parse import parse_qsl, urlencode

import yaml
from starlette.datastructures import Headers
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from racines.core.reading import Unreadable, read_limited
from racines.errors import UsageError

TOKENS_FILE = Path("renders") / "review-tokens.yaml"
COOKIE = "racines_token"
CSRF_HEADER = "x-racines-csrf"
LOOPBACK = {"127.0.0.1", "localhost", "::1"}
NAME = re.compile(r"^[^\x00-\x1f\x7f]{1,64}$")
TOKEN = re.compile(r"^[A-Za-z0-9_-]{16,128}$")  # as it goes in a cookie and a URL, unquoted
CSP = ("default-src 'self'; img-src 'self' data: blob:; media-src 'self' blob:; style-src 'self'; "
       "script-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'")
SECURITY_HEADERS = [(b"content-security-policy", CSP.encode()), (b"x-content-type-options", b"nosniff"),
                    (b"referrer-policy", b"no-referrer"), (b"x-frame-options", b"DENY"),
                    (b"cross-origin-resource-policy", b"same-origin")]


def people(root: Path, first: str) -> dict[str, str]:
    """The people who may use a shared room, name -> token; the file is made, readable by its
    owner only, with a token for ``first`` (the one who starts the room) when it is missing."""
    path = Path(root) / TOKENS_FILE
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        text = ("# racines serve --share: who may use the review room, one line each, name: token.\n"
                "# Add a line per person (16 or more letters, digits, - or _ as the token); keep this file private.\n"
                + yaml.safe_dump({first: secrets.token_urlsafe(24)}, allow_unicode=True))
        try:  # private from its first byte; a room started at the same moment makes it first
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
        except FileExistsError:
            pass
        else:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(text)
    where = TOKENS_FILE.as_posix()
    try:
        data = yaml.safe_load(read_limited(path, 100_000).decode("utf-8"))
    except (Unreadable, yaml.YAMLError, UnicodeDecodeError) as exc:
        raise UsageError(f"{where}: {exc}\n    fix: one line per person, name: token") from None
    if not isinstance(data, dict) or not data:
        raise UsageError(f"{where}: expected one line per person, name: token")
    found: dict[str, str] = {}
    for name, token in data.items():
        if not isinstance(name, str) or not NAME.match(name) or not isinstance(token, str) or not TOKEN.match(token):
            raise UsageError(f"{where}: the line of {str(name)[:64]!r} is not 'name: token' with a token of 16 "
                             "to 128 letters, digits, - or _\n    fix: correct it, or delete the file to start again")
        if token in found.values():
            raise UsageError(f"{where}: two people share a token\n    fix: give each person a token of their own")
        found[name] = token
    return found


def _host(header: str) -> str:
    if header.startswith("["):
        return header[1:].split("]", 1)[0]
    return header.rsplit(":", 1)[0] if header.count(":") == 1 else header


class Guard:
    """The ASGI middleware in front of the room: host, person, same-origin writes, headers."""

    def __init__(self, app: ASGIApp, tokens: dict[str, str] | None, loopback_only: bool):
        self.app = app
        self.tokens = tokens              # name -> token; None: a room of one, on this machine
        self.loopback_only = loopback_only
        self.secret = secrets.token_bytes(32)

    def csrf(self, person: str) -> str:
        return hmac.new(self.secret, person.encode(), hashlib.sha256).hexdigest()[:32]

    def person(self, token: str) -> str | None:
        found = None
        for name, known in (self.tokens or {}).items():  # every comparison made, in constant time
            if secrets.compare_digest(token.encode(), known.encode()):
                found = name
        return found

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_secured(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *SECURITY_HEADERS]
            await send(message)

        refusal = self.check(scope)
        if isinstance(refusal, Response):
            await refusal(scope, receive, send_secured)
            return
        await self.app(scope, receive, send_secured)

    def check(self, scope: Scope) -> Response | None:
        """A response refusing the request (or redirecting a login), or None to let it in;
        sets ``scope["state"]``'s person and csrf for the pages."""
        headers = Headers(scope=scope)
        host = headers.get("host", "")
        if self.loopback_only and _host(host) not in LOOPBACK:
            return PlainTextResponse("this review room answers on 127.0.0.1 or localhost only", 400)
        person = ""
        if self.tokens is not None:
            query = parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)
            given = dict(query).get("token")
            bearer = headers.get("authorization", "")
            token = given or (bearer[7:] if bearer.lower().startswith("bearer ") else "") or _cookie(headers, COOKIE)
            name = self.person(token) if token else None
            if name is None:
                return PlainTextResponse("this review room needs your personal link (ask the person who shares "
                                         "it for yours)", 401)
            if given is not None and scope["method"] in ("GET", "HEAD"):
                clean = scope["path"] + ("?" + urlencode([(k, v) for k, v in query if k != "token"])
                                         if len(query) > 1 else "")
                response = RedirectResponse(clean, 303)
                response.set_cookie(COOKIE, token, httponly=True, samesite="strict", path="/")
                return response
            person = name
        state = scope.setdefault("state", {})
        state["person"], state["csrf"] = person, self.csrf(person)
        if scope["method"] not in ("GET", "HEAD"):
            return self._same_origin(scope, headers, host, state["csrf"])
        return None

    def _same_origin(self, scope: Scope, headers: Headers, host: str, csrf: str) -> Response | None:
        site = headers.get("sec-fetch-site")
        if site is not None and site != "same-origin":
            return PlainTextResponse(f"refused: a request from another site ({site})", 403)
        origin = headers.get("origin")
        if origin is not None and origin != f"{scope.get('scheme', 'http')}://{host}":
            return PlainTextResponse("refused: a request from another origin", 403)
        if not secrets.compare_digest(headers.get(CSRF_HEADER, "").encode(), csrf.encode()):
            return PlainTextResponse("refused: the page's token is missing or old (reload the page)", 403)
        return None


def _cookie(headers: Headers, name: str) -> str:
    for part in headers.get("cookie", "").split(";"):
        key, _, value = part.strip().partition("=")
        if key == name:
            return value
    return ""
