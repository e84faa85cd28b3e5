"""The review room's routes: pages, their JSON, media by id, and the two writes.

Pages (HTML, Jinja2 with autoescape): ``/`` the film, ``/shot/ID`` a shot, ``/shot/ID/compare``
two takes, ``/cut`` the review copy. JSON: ``/api/film`` (with an ETag, polled by the film
page), ``/api/shot/ID``, ``/api/shot/ID/take/VNNN`` (the manifest). Media, named by ids only
(:mod:`racines.review.files`): ``/take/ID/VNNN/{thumbnail.jpg,contact.jpg,proxy.mp4}``,
``/photo/ID``, ``/drawing/ID/NAME``, ``/film/review.mp4``; Starlette's FileResponse answers
Range requests (206), which a browser needs to seek. Writes (POST, JSON bodies, see
:mod:`racines.review.access`): ``.../decision`` through ``reviews.set_status`` and ``.../note``
through ``reviews.add_note``, the same code and files as ``racines approve`` and ``review``.
"""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import jinja2
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from racines.edit.timecode import to_frames, to_timecode
from racines.errors import RacinesError
from racines.review.access import Guard
from racines.review.drawings import save_drawing
from racines.review.files import NotServed, confined
from racines.review.proxies import proxy_for
from racines.review.state import Project
from racines.takes.reviews import REVIEWS_DIR, STATUSES, add_note, drawing_path, set_status

HERE = Path(__file__).parent
STATIC = {"player.js": "text/javascript", "pages.js": "text/javascript", "review.css": "text/css"}
TAKE_FILES = {"thumbnail.jpg", "contact.jpg", "proxy.mp4"}
MAX_DECISION_BYTES = 64_000
MAX_NOTE_BYTES = 12_000_000  # a drawing as a data URL at the size of a 4K frame
MEDIA_TYPES = {".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".png": "image/png", ".tif": "image/tiff",
               ".tiff": "image/tiff", ".webp": "image/webp"}


class BadRequest(Exception):
    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


def create_app(project: Project, tokens: dict[str, str] | None = None, loopback_only: bool = True) -> Guard:
    """The room as an ASGI app: the routes behind the :class:`Guard`."""
    pages = jinja2.Environment(loader=jinja2.FileSystemLoader(HERE / "templates"), autoescape=True,
                               undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    for name in ("film.html", "shot.html", "compare.html", "cut.html"):
        pages.get_template(name)  # compiled now rather than on the first page asked for
    routes = Routes(project, pages)
    app = Starlette(routes=[
        Route("/", routes.film_page), Route("/cut", routes.cut_page),
        Route("/shot/{shot_id}", routes.shot_page), Route("/shot/{shot_id}/compare", routes.compare_page),
        Route("/api/film", routes.film_json), Route("/api/shot/{shot_id}", routes.shot_json),
        Route("/api/shot/{shot_id}/take/{version}", routes.manifest_json),
        Route("/api/shot/{shot_id}/take/{version}/decision", routes.decide, methods=["POST"]),
        Route("/api/shot/{shot_id}/take/{version}/note", routes.note, methods=["POST"]),
        Route("/take/{shot_id}/{version}/{what}", routes.take_file), Route("/photo/{shot_id}", routes.photo),
        Route("/drawing/{shot_id}/{name}", routes.drawing), Route("/film/review.mp4", routes.review_copy),
        Route("/static/{name}", routes.static), Route("/favicon.ico", lambda request: Response(status_code=204)),
    ], exception_handlers={NotServed: _not_found, 404: _not_found, BadRequest: _bad, RacinesError: _refused})
    return Guard(app, tokens, loopback_only)


async def _not_found(request: Request, exc: Exception) -> Response:
    return PlainTextResponse("not found", 404)  # the reason stays here: a probe learns nothing


async def _bad(request: Request, exc: Exception) -> Response:
    return JSONResponse({"error": str(exc)}, getattr(exc, "status", 400))


async def _refused(request: Request, exc: Exception) -> Response:
    return JSONResponse({"error": str(exc)}, 409)  # what set_status or add_note refused, in their words


async def _json_body(request: Request, limit: int) -> dict:
    # a JSON body only: an HTML form of another site cannot send one without asking first
    if request.headers.get("content-type", "").split(";")[0].strip() != "application/json":
        raise BadRequest("send JSON (Content-Type: application/json)", 415)
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise BadRequest("request too large", 413)
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise BadRequest("request too large", 413)
    try:
        data = json.loads(body)
    except ValueError:
        raise BadRequest("not JSON") from None
    if not isinstance(data, dict):
        raise BadRequest("expected a JSON object")
    return data


class Routes:
    def __init__(self, project: Project, pages: jinja2.Environment):
        self.project = project
        self.pages = pages

    def page(self, request: Request, template: str, **context: object) -> HTMLResponse:
        html = self.pages.get_template(template).render(
            person=request.state.person, csrf=request.state.csrf, **context)
        return HTMLResponse(html, headers={"Cache-Control": "no-store"})

    # -- pages ------------------------------------------------------------------------------

    def film_page(self, request: Request) -> Response:
        snapshot = self.project.snapshot()
        return self.page(request, "film.html", film=snapshot.film, snapshot=snapshot.as_json(),
                         title=snapshot.film.title if snapshot.film else self.project.root.name)

    def shot_page(self, request: Request) -> Response:
        shot = self.project.shot(request.path_params["shot_id"])
        film = self.project.film()
        takes = {take["version"]: take for take in shot["takes"]}
        wanted = request.query_params.get("take")
        current = takes.get(wanted or "") or next((t for t in shot["takes"] if t["selected"]), None) \
            or (shot["takes"][-1] if shot["takes"] else None)
        return self.page(request, "shot.html", film=film, title=f"{shot['id']} · {film.title}", shot=shot,
                         current=current, data={"shot": shot, "current": current["version"] if current else None})

    def compare_page(self, request: Request) -> Response:
        shot = self.project.shot(request.path_params["shot_id"])
        film = self.project.film()
        takes = shot["takes"]
        by_version = {take["version"]: take for take in takes}
        chosen = next((t for t in takes if t["selected"]), takes[-1] if takes else None)
        a = by_version.get(request.query_params.get("a", "")) or (takes[-2] if len(takes) > 1 else chosen)
        b = by_version.get(request.query_params.get("b", "")) or chosen
        changes = self.project.changes(shot["id"], a["version"], b["version"]) if a and b else []
        return self.page(request, "compare.html", film=film, title=f"{shot['id']} compare · {film.title}",
                         shot=shot, a=a, b=b, changes=changes,
                         data={"shot": shot["id"], "a": a, "b": b})

    def cut_page(self, request: Request) -> Response:
        film = self.project.film()
        cut = self.project.cut()
        exists = self.project.review_copy().is_file()
        return self.page(request, "cut.html", film=film, title=f"the cut · {film.title}", cut=cut, exists=exists,
                         data={"rate": film.rate_text, "frames": film.duration(), "timecode_start": film.timecode_start,
                               "cut": cut, "src": "/film/review.mp4" if exists else None})

    # -- JSON ---------------------------------------------------------------------------------

    def film_json(self, request: Request) -> Response:
        snapshot = self.project.snapshot()
        tag = f'"{snapshot.revision}"'
        headers = {"ETag": tag, "Cache-Control": "no-cache"}
        if request.headers.get("if-none-match") == tag:
            return Response(status_code=304, headers=headers)
        return JSONResponse(snapshot.as_json(), headers=headers)

    def shot_json(self, request: Request) -> Response:
        return JSONResponse(self.project.shot(request.path_params["shot_id"]))

    def manifest_json(self, request: Request) -> Response:
        return JSONResponse(self.project.take(request.path_params["shot_id"], request.path_params["version"]).manifest)

    # -- writes -------------------------------------------------------------------------------

    async def decide(self, request: Request) -> Response:
        shot_id, version = request.path_params["shot_id"], request.path_params["version"]
        body = await _json_body(request, MAX_DECISION_BYTES)
        status, note = body.get("status"), body.get("note", "")
        if status not in STATUSES or not isinstance(note, str):
            raise BadRequest(f"status: one of {', '.join(STATUSES)}; note: text")
        await run_in_threadpool(self.project.take, shot_id, version)
        await run_in_threadpool(set_status, self.project.root, self.project.store, shot_id, version, status,
                                note.strip(), request.state.person)
        return JSONResponse(await run_in_threadpool(self.project.shot, shot_id))

    async def note(self, request: Request) -> Response:
        shot_id, version = request.path_params["shot_id"], request.path_params["version"]
        body = await _json_body(request, MAX_NOTE_BYTES)
        text, frame, drawing = body.get("text", ""), body.get("frame"), body.get("drawing")
        take = await run_in_threadpool(self.project.take, shot_id, version)
        if not isinstance(text, str) or type(frame) is not int or not 0 <= frame < take.frames:
            raise BadRequest(f"text: text; frame: a frame of the take, 0 to {take.frames - 1}")
        if not text.strip() and not drawing:
            raise BadRequest("a note needs words or a drawing")
        # the timecode from the take's own start, never from the page
        start = take.info.media.timecode_start
        rate = Fraction(take.info.film.frame_rate) if take.info.film else self.project.film().rate
        timecode = to_timecode(to_frames(start, rate) + frame, rate, ";" in start)
        name = None
        if drawing:
            if not isinstance(drawing, str):
                raise BadRequest("drawing: a PNG data URL")
            name = await run_in_threadpool(save_drawing, self.project.root, shot_id, version, frame, drawing)
        try:
            await run_in_threadpool(add_note, self.project.root, self.project.store, shot_id, version, text.strip(),
                                    frame, timecode, name, request.state.person)
        except RacinesError:
            if name:
                drawing_path(self.project.root, shot_id, name).unlink(missing_ok=True)
            raise
        return JSONResponse(await run_in_threadpool(self.project.shot, shot_id))

    # -- media, by id -------------------------------------------------------------------------

    def take_file(self, request: Request) -> Response:
        shot_id, version, what = (request.path_params[k] for k in ("shot_id", "version", "what"))
        if what not in TAKE_FILES or not self.project.shot_of(shot_id).consented:
            raise NotServed(what)  # nothing of a shot whose photograph's consent is not granted now
        take = self.project.take(shot_id, version)
        store = self.project.store.folder
        if what == "proxy.mp4":
            rate = take.info.film.frame_rate if take.info.film else self.project.film().rate_text
            path = proxy_for(self.project.root, take, rate)
            return FileResponse(confined(path.parent, path.name, self.project.root / "renders"),
                                media_type="video/mp4", headers={"Cache-Control": "private, max-age=3600"})
        name = take.info.media.thumbnail if what == "thumbnail.jpg" else take.info.media.contact_sheet
        return FileResponse(confined(take.folder, name, within=store), media_type="image/jpeg",
                            headers={"Cache-Control": "private, max-age=3600"})

    def photo(self, request: Request) -> Response:
        shot = self.project.shot_of(request.path_params["shot_id"])
        if shot.source is None or not shot.consented:
            raise NotServed("no photograph that may be shown")
        path = confined(shot.source.path.parent, shot.source.path.name, within=self.project.root)
        return FileResponse(path, media_type=MEDIA_TYPES.get(path.suffix.lower(), "application/octet-stream"),
                            headers={"Cache-Control": "no-cache"})

    def drawing(self, request: Request) -> Response:
        shot_id, name = request.path_params["shot_id"], request.path_params["name"]
        self.project.shot_of(shot_id)
        try:
            path = drawing_path(self.project.root, shot_id, name)
        except RacinesError:
            raise NotServed(name) from None
        return FileResponse(confined(path.parent, path.name, within=self.project.root / REVIEWS_DIR),
                            media_type="image/png")

    def review_copy(self, request: Request) -> Response:
        path = self.project.review_copy()
        return FileResponse(confined(path.parent, path.name, within=self.project.root / "renders"),
                            media_type="video/mp4", headers={"Cache-Control": "no-cache"})

    def static(self, request: Request) -> Response:
        name = request.path_params["name"]
        if name not in STATIC:
            raise NotServed(name)
        return FileResponse(HERE / "static" / name, media_type=STATIC[name], headers={"Cache-Control": "no-cache"})
