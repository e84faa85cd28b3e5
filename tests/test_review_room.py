"""The review room (racines serve) run as a subprocess on 127.0.0.1 and driven through Debian's
chromium by Playwright: nothing downloaded. The tiny rendered film is copied; take s010 v001's
frames are replaced by frames that carry their own index (8 black or white blocks), and a
v002 is added at 24000/1001, so that the frame on screen can be read back from a canvas."""

from __future__ import annotations

import http.client
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from racines.cli import main
from racines.media.ffmpeg import ffmpeg_exe
from racines.takes.reviews import load_review

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTEFACTS = Path(__file__).parent / "artefacts"
BLOCKS = 8  # bits of the frame index, as blocks of 32 px across a 256 px frame

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed")


def indexed_frames(path: Path, frames: int, rate: str) -> None:
    """A video whose frame n shows n in binary: block b white when bit b is set."""
    bits = "geq=lum='if(mod(floor(N/pow(2,floor(X/32))),2),235,16)':cb=128:cr=128"
    subprocess.run([ffmpeg_exe(), "-v", "error", "-y", "-f", "lavfi", "-i", f"color=black:s=256x144:r={rate}:d=10,{bits}",
                    "-frames:v", str(frames), "-c:v", "ffv1", str(path)], check=True)


def add_take(root: Path, shot: str, version: str, changes: dict[tuple, object], media: bool = True) -> Path:
    """A take folder copied from the shot's v001 with its manifest changed (a new cache key)."""
    source = root / "renders" / "takes" / shot / "v001"
    folder = source.parent / version
    if media:
        shutil.copytree(source, folder)
    else:
        folder.mkdir()
        shutil.copy(source / "manifest.json", folder)
    manifest = json.loads((folder / "manifest.json").read_text())
    for (*path, last), value in changes.items():
        target = manifest
        for part in path:
            target = target[part]
        target[last] = value
    manifest.update(take=version, cache_key=f"{version}-not-the-shot-as-it-stands")
    (folder / "manifest.json").write_text(json.dumps(manifest))
    return folder


@pytest.fixture(scope="module")
def project(rendered_tiny, tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("room") / "film"
    shutil.copytree(rendered_tiny, root, symlinks=True)
    takes = root / "renders" / "takes"
    indexed_frames(takes / "s010" / "v001" / "frames.mkv", 40, "24")
    add_take(root, "s010", "v002", {("film", "frame_rate"): "24000/1001", ("generator", "settings", "seed"): 8,
                                     ("cache_inputs", "generator.seed"): 8,
                                     ("generator", "settings", "prompt"): "<script>window.pwned = 1</script><b>bold</b>"})
    indexed_frames(takes / "s010" / "v002" / "frames.mkv", 40, "24000/1001")
    for number in range(2, 25):  # takes to decide on at once: manifests are all a decision reads
        add_take(root, "s030", f"v{number:03d}", {}, media=False)
    return root


class Room:
    """``racines serve`` in a subprocess, on a free port of 127.0.0.1."""

    def __init__(self, root: Path, *args: str):
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self.process = subprocess.Popen([sys.executable, "-m", "racines.cli", "--project", str(root), "serve",
                                         "--port", "0", *args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                        text=True, env=env)
        self.lines = []
        for line in self.process.stdout:
            self.lines.append(line)
            if "Ctrl-C" in line:
                break
        found = re.search(r"http://127\.0\.0\.1:(\d+)/", "".join(self.lines))
        assert found, "".join(self.lines)
        self.port = int(found.group(1))
        self.base = f"http://127.0.0.1:{self.port}/"
        threading.Thread(target=self.process.stdout.read, daemon=True).start()  # never let its pipe fill

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(10)

    def request(self, method: str, path: str, body: bytes | None = None, headers: dict | None = None):
        """A raw request: the path is sent exactly as written, dots and escapes included."""
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=20)
        connection.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
        headers = {"Host": f"127.0.0.1:{self.port}", **(headers or {})}
        if body is not None:
            headers["Content-Length"] = str(len(body))
        for name, value in headers.items():
            connection.putheader(name, value)
        connection.endheaders(body)
        response = connection.getresponse()
        data = response.read()
        connection.close()
        return response.status, dict(response.getheaders()), data


@pytest.fixture(scope="module")
def room(project):
    server = Room(project)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.errors = []
    page.on("pageerror", lambda error: page.errors.append(str(error)))
    yield page
    context.close()


# the frame on screen, read back from the picture: not what the page says
READ_FRAME = """(video) => {
  const canvas = document.createElement('canvas'); canvas.width = 256; canvas.height = 144;
  const context = canvas.getContext('2d', {willReadFrequently: true});
  context.drawImage(video, 0, 0, 256, 144);
  let n = 0;
  for (let b = 0; b < 8; b++) { if (context.getImageData(b * 32 + 16, 72, 1, 1).data[0] > 128) n |= 1 << b; }
  return n;
}"""
SETTLED = """([name, frame]) => { const p = window.racines.players[name];
  return p && p.shown === frame && p.inFlight === null && !p.video.seeking; }"""


def open_shot(page, room, path: str):
    page.goto(room.base + path)
    page.wait_for_function(SETTLED, arg=["main", 0], timeout=30_000)


def shown(page, selector: str = "#player") -> int:
    return page.eval_on_selector(selector, READ_FRAME)


def test_the_film_page_lists_every_shot_of_the_cut_with_its_state(room, page):
    page.goto(room.base)
    rows = page.eval_on_selector_all(".shot-row", "rows => rows.map(r => [r.dataset.shot, r.dataset.state])")
    assert rows == [["s010", "up to date"], ["s020", "up to date"], ["s030", "up to date"], ["s040", "up to date"]]
    assert page.eval_on_selector_all(".thumb img", "images => images.every(i => i.complete && i.naturalWidth > 0)")
    assert not page.errors


def test_the_film_page_follows_a_render_without_being_reloaded(room, page, project):
    from racines.core.lock import project_lock

    page.goto(room.base)
    page.evaluate("() => { window.notReloaded = true; }")
    shot_file = project / "shots" / "s040.yaml"
    before = shot_file.read_text()
    try:
        with project_lock(project, command="render"):
            shot_file.write_text(before.replace("heading: Tiny", "heading: Tiny again"))
            page.wait_for_function("() => !document.getElementById('running').hidden", timeout=10_000)
            assert "render is running" in page.text_content("#running")
            page.wait_for_function("() => document.querySelector('[data-shot=\"s040\"]').dataset.state === 'stale'",
                                   timeout=10_000)
            assert "generator.heading: Tiny -> Tiny again" in page.text_content('[data-shot="s040"] .reasons')
    finally:
        shot_file.write_text(before)
    page.wait_for_function("() => document.getElementById('running').hidden && "
                           "document.querySelector('[data-shot=\"s040\"]').dataset.state === 'up to date'",
                           timeout=10_000)
    assert page.evaluate("() => window.notReloaded") is True


def test_a_take_plays(room, page):
    open_shot(page, room, "shot/s020")
    played = page.evaluate("""async () => { const v = document.getElementById('player');
      await v.play(); await new Promise(r => setTimeout(r, 400));
      const seen = await new Promise(r => v.requestVideoFrameCallback((now, meta) => r(meta)));
      v.pause(); return {time: v.currentTime, error: v.error, presented: seen.presentedFrames}; }""")
    assert played["error"] is None and played["time"] > 0.1 and played["presented"] > 2, played


@pytest.mark.parametrize("version, rate", [("v001", "24"), ("v002", "24000/1001")])
def test_stepping_lands_on_the_frame_it_says(room, page, version, rate):
    open_shot(page, room, f"shot/s010?take={version}")
    assert shown(page) == 0
    page.focus("body")
    expected = 0
    for key, move in [("ArrowRight", 1)] * 5 + [("ArrowLeft", -1)] * 2 + [("Shift+ArrowRight", 10), ("End", None),
                                                                              ("ArrowLeft", -1), ("Home", None)]:
        page.keyboard.press(key)
        expected = {"End": 39, "Home": 0}.get(key, expected + (move or 0))
        page.wait_for_function(SETTLED, arg=["main", expected], timeout=10_000)
        said = int(page.get_attribute("#frame-number", "data-frame"))
        assert (said, shown(page)) == (expected, expected), f"{key}: the page says {said}"
    # a frame in the middle of a 24000/1001 take, and its timecode
    page.evaluate("() => { window.racines.players.main.seek(31); }")
    page.wait_for_function(SETTLED, arg=["main", 31])
    assert shown(page) == 31
    assert page.text_content("#timecode") == "00:00:01:07"  # 31 frames at 24 a second (nominal), from 00:00:00:00
    assert not page.errors


def test_approving_from_the_page_is_what_racines_takes_shows_and_the_film_page_follows(room, browser, page, project):
    film = browser.new_page()
    film.goto(room.base)
    assert film.get_attribute('[data-shot="s020"] .chip.review', "data-review") == "wip"
    open_shot(page, room, "shot/s020")
    page.fill("#note-text", "the slow bloom")
    page.click('#decide [data-status="approved"]')
    page.wait_for_function("() => document.getElementById('status').textContent === 'approved'")
    review = load_review(project, "s020")
    assert (review.approved, review.status_of("v001"), review.note_of("v001")) == ("v001", "approved", "the slow bloom")
    listing = CliRunner().invoke(main, ["--project", str(project), "takes", "s020"])
    assert listing.exit_code == 0 and re.search(r"\* v001\s+approved .*the slow bloom", listing.output), listing.output
    # the film page open meanwhile follows, without being reloaded
    film.wait_for_function("() => document.querySelector('[data-shot=\"s020\"] .chip.review').dataset.review === 'approved'",
                           timeout=10_000)
    film.close()


def draw_a_stroke(page) -> None:
    page.click("#draw-toggle")
    box = page.locator("#drawing").bounding_box()
    page.mouse.move(box["x"] + 40, box["y"] + 40)
    page.mouse.down()
    page.mouse.move(box["x"] + 160, box["y"] + 90, steps=8)
    page.mouse.up()


def test_a_note_pinned_to_a_frame_with_a_drawing_survives_a_restart_and_is_shown_as_text(project, browser):
    text = "<script>window.pwned = 1</script> too fast <img src=x onerror='window.pwned = 2'>"
    first = Room(project)
    try:
        page = browser.new_page()
        open_shot(page, first, "shot/s010?take=v001")
        page.evaluate("() => { window.racines.players.main.seek(12); }")
        page.wait_for_function(SETTLED, arg=["main", 12])
        draw_a_stroke(page)
        page.fill("#note-text", text)
        page.click("#pin-note")
        page.wait_for_function("() => document.querySelectorAll('#notes li').length === 1")
        page.close()
    finally:
        first.stop()
    notes = load_review(project, "s010").notes_of("v001")
    assert [(n["frame"], n["timecode"], n["text"]) for n in notes] == [(12, "00:00:00:12", text.strip())]
    drawing = project / "shots" / "reviews" / "s010" / notes[0]["drawing"]
    assert drawing.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "frame: 12" in (project / "shots" / "reviews" / "s010.yaml").read_text()  # readable in a diff

    again = Room(project)
    try:
        page = browser.new_page()
        open_shot(page, again, "shot/s010?take=v001")
        assert page.text_content("#notes .note-text") == text.strip()
        page.click("#notes .note-link")
        page.wait_for_function(SETTLED, arg=["main", 12])
        assert shown(page) == 12
        page.wait_for_function("() => { const i = document.getElementById('drawing-shown'); "
                               "return !i.hidden && i.complete && i.naturalWidth === 256; }")
        assert page.evaluate("() => window.pwned") is None
        assert page.evaluate("() => document.querySelectorAll('#notes script, #notes img').length") == 0
        page.close()
    finally:
        again.stop()


def test_compare_steps_both_takes_in_sync_and_keeps_a_screenshot(room, page, tmp_path):
    page.goto(room.base + "shot/s010/compare?a=v001&b=v002")
    page.wait_for_function(SETTLED, arg=["a", 0], timeout=30_000)
    page.wait_for_function(SETTLED, arg=["b", 0], timeout=30_000)
    page.focus("body")
    for frame in (1, 2, 3, 13):
        page.keyboard.press("Shift+ArrowRight" if frame == 13 else "ArrowRight")
        page.wait_for_function(SETTLED, arg=["a", frame])
        page.wait_for_function(SETTLED, arg=["b", frame])
        assert (shown(page, "#video-a"), shown(page, "#video-b")) == (frame, frame)
    assert "generator.seed: 7 -> 8" in page.text_content(".changes")
    page.click("#mode")  # the wipe
    assert page.get_attribute("#compare", "class") == "compare wipe"
    path = tmp_path / "compare.png"
    page.screenshot(path=str(path), full_page=True)
    ARTEFACTS.mkdir(exist_ok=True)
    shutil.copy(path, ARTEFACTS / "review_room_compare.png")
    print(f"compare page screenshot: {path} and {ARTEFACTS / 'review_room_compare.png'}")
    assert path.stat().st_size > 10_000


def test_the_cut_plays_the_review_copy_by_range_requests_and_seeks_to_each_shot(room, page, project):
    answers = []
    page.on("response", lambda r: answers.append(r.status) if r.url.endswith("/film/review.mp4") else None)
    page.goto(room.base + "cut")
    page.wait_for_function(SETTLED, arg=["main", 0], timeout=30_000)
    firsts = page.eval_on_selector_all("#cutlist .seek", "buttons => buttons.map(b => [b.dataset.shot, +b.dataset.frame])")
    assert [shot for shot, _ in firsts] == ["s010", "s020", "s030", "s040"]
    for shot, first in firsts[1:]:
        page.click(f'#cutlist .seek[data-shot="{shot}"]')
        page.wait_for_function(SETTLED, arg=["main", first])
        assert page.get_attribute(f'#cutlist .seek[data-shot="{shot}"]', "class") == "seek here"
    assert 206 in answers
    status, headers, body = room.request("GET", "/film/review.mp4", headers={"Range": "bytes=100-199"})
    assert (status, len(body), headers["content-range"].startswith("bytes 100-199/")) == (206, 100, True)


def test_twenty_decisions_from_the_page_and_the_cli_at_once_are_all_recorded(room, page, project):
    open_shot(page, room, "shot/s030")
    cli = [subprocess.Popen([sys.executable, "-m", "racines.cli", "--project", str(project), "review", "s030",
                             f"v{number:03d}", "retake", "--note", f"cli {number}"], stdout=subprocess.DEVNULL)
           for number in (22, 23, 24)]
    time.sleep(0.5)  # the commands are starting: the page's decisions go out while they decide
    statuses = page.evaluate("""async () => {
      const csrf = document.querySelector('meta[name="racines-csrf"]').content;
      const send = (i) => new Promise(r => setTimeout(r, i * 60)).then(() =>
        fetch(`/api/shot/s030/take/v${String(i + 2).padStart(3, '0')}/decision`, {method: 'POST',
          headers: {'Content-Type': 'application/json', 'X-Racines-CSRF': csrf},
          body: JSON.stringify({status: i % 2 ? 'review' : 'wip', note: `page ${i}`})}).then(r => r.status));
      return Promise.all([...Array(20).keys()].map(send)); }""")
    assert [process.wait(60) for process in cli] == [0, 0, 0]
    assert statuses == [200] * 20
    review = load_review(project, "s030")
    for i in range(20):
        version = f"v{i + 2:03d}"
        assert (review.status_of(version), review.note_of(version)) == ("review" if i % 2 else "wip", f"page {i}")
    for number in (22, 23, 24):
        assert (review.status_of(f"v{number:03d}"), review.note_of(f"v{number:03d}")) == ("retake", f"cli {number}")


# -- safety ---------------------------------------------------------------------------------------

TRAVERSALS = ["/media/../../etc/passwd", "/take/s010/v001/../../../../../../etc/passwd",
              "/take/s010/v001/..%2f..%2f..%2f..%2f..%2f..%2fetc%2fpasswd", "/take/s010/v001/%2e%2e%2fmanifest.json",
              "/take/..%2f..%2f..%2fetc/v001/thumbnail.jpg", "/take/s010/..%2fv001/proxy.mp4",
              "/static/..%2f..%2f..%2fshots%2fs010.yaml", "/static/%2e%2e/state.py", "/drawing/s010/..%2f..%2fs010.yaml",
              "/photo/..%2f..%2fetc%2fpasswd", "/%2e%2e/%2e%2e/etc/passwd", "/film/..%2f..%2fshots%2ffilm.yaml",
              "/take/s010/v001/manifest.json", "/take/s010/v001/frames.mkv", "/api/shot/s010/take/..%2fv001"]


def test_no_file_outside_what_the_room_names_is_served(room, project):
    for path in TRAVERSALS:
        status, _, body = room.request("GET", path)
        assert status == 404 and b"root:" not in body and b"generator" not in body, (path, status, body[:80])
    # a symlink inside a take that leads out of the project
    contact = project / "renders" / "takes" / "s020" / "v001" / "contact.jpg"
    contact.unlink()
    contact.symlink_to("/etc/passwd")
    status, _, body = room.request("GET", "/take/s020/v001/contact.jpg")
    assert status == 404 and b"root:" not in body
    assert room.request("GET", "/take/s020/v001/thumbnail.jpg")[0] == 200


def test_a_page_of_another_site_cannot_decide(room, page, project):
    before = (project / "shots" / "reviews").exists() and sorted((project / "shots" / "reviews").glob("*.yaml"))
    before_text = {p.name: p.read_text() for p in before or []}
    posted = []
    page.on("response", lambda r: posted.append(r.status) if "/decision" in r.url else None)
    # a form on another origin posting to the room, as a forged cross-site request does
    page.route("http://elsewhere.test/", lambda route: route.fulfill(content_type="text/html", body=f"""
      <form id="f" method="post" enctype="text/plain" action="{room.base}api/shot/s030/take/v001/decision">
      <input name='{{"status": "approved", "x": "' value='"}}'></form>
      <script>document.getElementById('f').submit()</script>"""))
    page.goto("http://elsewhere.test/")
    page.wait_for_timeout(500)
    assert posted and all(status == 403 for status in posted)
    # the same request by hand: a foreign Origin, a cross-site fetch, or no page token
    body = json.dumps({"status": "approved"}).encode()
    csrf = re.search(rb'name="racines-csrf" content="(\w+)"', room.request("GET", "/")[2]).group(1).decode()
    json_type = {"Content-Type": "application/json"}
    for headers in ({**json_type, "X-Racines-CSRF": csrf, "Origin": "http://elsewhere.test"},
                    {**json_type, "X-Racines-CSRF": csrf, "Sec-Fetch-Site": "cross-site"},
                    {**json_type, "X-Racines-CSRF": csrf, "Sec-Fetch-Site": "same-site"},
                    {**json_type, "Origin": room.base.rstrip("/")}):
        assert room.request("POST", "/api/shot/s030/take/v001/decision", body, headers)[0] == 403, headers
    assert {p.name: p.read_text() for p in sorted((project / "shots" / "reviews").glob("*.yaml"))} == before_text
    # a name of another site that resolves to this machine (DNS rebinding) is not answered
    assert room.request("GET", "/", headers={"Host": f"elsewhere.test:{room.port}"})[0] == 400


def test_under_share_every_request_needs_a_persons_token_and_decisions_say_who(project, tmp_path):
    tokens = project / "renders" / "review-tokens.yaml"
    tokens.write_text(yaml.safe_dump({"Amina": "a" * 24, "Bao": "b-" * 12}))
    shared = Room(project, "--share", "--host", "127.0.0.1")
    try:
        assert "Bao: http://" in "".join(shared.lines)
        assert shared.request("GET", "/")[0] == 401
        assert shared.request("GET", "/api/film")[0] == 401
        assert shared.request("GET", "/take/s010/v001/thumbnail.jpg")[0] == 401
        assert shared.request("GET", "/?token=" + "c" * 24)[0] == 401
        status, headers, _ = shared.request("GET", "/shot/s030?token=" + "b-" * 12)
        assert status == 303 and headers["location"] == "/shot/s030"
        assert "HttpOnly" in headers["set-cookie"] and "SameSite=strict" in headers["set-cookie"]
        cookie = headers["set-cookie"].split(";")[0]
        page = shared.request("GET", "/shot/s030", headers={"Cookie": cookie})[2]
        csrf = re.search(rb'name="racines-csrf" content="(\w+)"', page).group(1).decode()
        body = json.dumps({"status": "review", "note": "seen by Bao"}).encode()
        headers = {"Content-Type": "application/json", "X-Racines-CSRF": csrf}
        assert shared.request("POST", "/api/shot/s030/take/v002/decision", body, headers)[0] == 401
        status, _, answer = shared.request("POST", "/api/shot/s030/take/v002/decision", body,
                                           {**headers, "Authorization": "Bearer " + "b-" * 12})
        assert status == 200, answer
        assert load_review(project, "s030").takes["v002"]["by"] == "Bao"
        # Amina's page token is not Bao's
        status, _, _ = shared.request("POST", "/api/shot/s030/take/v002/decision", body,
                                      {**headers, "Authorization": "Bearer " + "a" * 24})
        assert status == 403
    finally:
        shared.stop()
        tokens.unlink()


def test_a_damaged_reviews_file_shows_an_error_for_its_shot_only(room, page, project):
    damaged = project / "shots" / "reviews" / "s040.yaml"
    damaged.parent.mkdir(parents=True, exist_ok=True)
    damaged.write_text("takes: [this is: not, a mapping\n")
    try:
        page.goto(room.base)
        assert page.eval_on_selector_all(".shot-row", "rows => rows.length") == 4
        assert "malformed YAML" in page.text_content('[data-shot="s040"] .review-error')
        assert page.is_hidden('[data-shot="s030"] .review-error')
        page.goto(room.base + "shot/s040")
        assert "s040.yaml" in page.text_content("#review-error")
        body = json.dumps({"status": "approved"}).encode()
        csrf = re.search(rb'name="racines-csrf" content="(\w+)"', room.request("GET", "/")[2]).group(1).decode()
        status, _, answer = room.request("POST", "/api/shot/s040/take/v001/decision", body,
                                         {"Content-Type": "application/json", "X-Racines-CSRF": csrf})
        assert status == 409 and b"malformed YAML" in answer
    finally:
        damaged.unlink()


def test_a_prompt_from_the_take_is_shown_as_text(room, page):
    open_shot(page, room, "shot/s010?take=v002")
    assert page.text_content("#prompt") == "<script>window.pwned = 1</script><b>bold</b>"
    assert page.evaluate("() => window.pwned") is None
    assert page.evaluate("() => document.querySelectorAll('#prompt *').length") == 0
    assert "script-src 'self'" in room.request("GET", "/shot/s010")[1]["content-security-policy"]
