"use strict";
// The review room's pages. Text from the project is only ever set as textContent, never as
// HTML; every write sends the page's token in X-Racines-CSRF.
(function () {
  const { FramePlayer, bindTransport, bindKeys } = window.RacinesPlayer;
  const csrf = document.querySelector('meta[name="racines-csrf"]').content;
  const dataNode = document.getElementById("page-data");
  const data = dataNode ? JSON.parse(dataNode.textContent) : null;
  const room = (window.racines = { players: {} });

  async function post(url, body) {
    const response = await fetch(url, {
      method: "POST", credentials: "same-origin", body: JSON.stringify(body),
      headers: { "Content-Type": "application/json", "X-Racines-CSRF": csrf },
    });
    const text = await response.text();
    let answer;
    try { answer = JSON.parse(text); } catch (error) { answer = { error: text }; }
    if (!response.ok) throw new Error(answer.error || response.statusText);
    return answer;
  }

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  // -- the film: each shot's state, kept current by polling /api/film -------------------------
  function filmPage() {
    const list = document.getElementById("shots");
    let tag = `"${list.dataset.revision}"`;
    function apply(snapshot) {
      const rows = [...list.querySelectorAll(".shot-row")];
      const ids = snapshot.shots.map((shot) => shot.id).join(" ");
      if (rows.map((row) => row.dataset.shot).join(" ") !== ids || Boolean(snapshot.error)
          !== Boolean(document.getElementById("film-error"))) {
        window.location.reload();  // the cut itself changed: draw it again
        return;
      }
      snapshot.shots.forEach((shot, index) => {
        const row = rows[index];
        row.className = `shot-row ${shot.state.replace(/ /g, "-")}`;
        row.dataset.state = shot.state;
        row.querySelector(".chip.state").textContent = shot.state;
        const review = row.querySelector(".chip.review");
        review.textContent = shot.review || "";
        review.dataset.review = shot.review || "";
        review.hidden = !shot.review;
        row.querySelector(".selected").textContent = shot.selected ? `the cut uses ${shot.selected}` : "no take";
        const reasons = row.querySelector(".reasons");
        reasons.replaceChildren(...shot.reasons.map((reason) => el("li", "", reason)));
        const error = row.querySelector(".review-error");
        error.textContent = shot.review_error;
        error.hidden = !shot.review_error;
        const image = row.querySelector(".thumb img");
        if (image && shot.thumbnail && image.getAttribute("src") !== shot.thumbnail) image.src = shot.thumbnail;
        if (!image && shot.thumbnail) window.location.reload();
      });
      const counts = document.getElementById("counts");
      counts.replaceChildren(...Object.entries(snapshot.counts).flatMap(([state, n]) =>
        [el("span", `chip ${state.replace(/ /g, "-")}`, `${n} ${state}`), document.createTextNode(" ")]));
      const running = document.getElementById("running");
      running.textContent = snapshot.running;
      running.hidden = !snapshot.running;
      list.dataset.revision = snapshot.revision;
    }
    async function poll() {
      try {
        const response = await fetch("/api/film", { headers: { "If-None-Match": tag }, cache: "no-store" });
        if (response.status === 200) {
          tag = response.headers.get("ETag");
          apply(await response.json());
        }
      } catch (error) { /* the room restarting: try again */ }
      setTimeout(poll, 1500);
    }
    setTimeout(poll, 1500);
  }

  // -- a shot: its take playing, decisions, notes on frames, drawings ---------------------------
  function shotPage() {
    const shot = data.shot;
    const take = shot.takes.find((t) => t.version === data.current);
    const video = document.getElementById("player");
    const said = document.getElementById("said");
    if (!take) return;
    let player = null;
    if (video) {
      player = new FramePlayer(video, { rate: take.rate, frames: take.frames, timecodeStart: take.timecode_start,
                                        handles: take.handles });
      bindTransport(document.querySelector(".transport"), player);
      bindKeys(player);
      room.players.main = player;
    }
    const base = `/api/shot/${encodeURIComponent(shot.id)}/take/${take.version}`;
    const noteText = document.getElementById("note-text");

    function show(answer, message) {
      const now = answer.takes.find((t) => t.version === take.version);
      document.getElementById("status").textContent = now.status;
      for (const entry of answer.takes) {
        const chip = document.querySelector(`.version[data-version="${entry.version}"] .chip.status`);
        if (chip) chip.textContent = entry.status;
      }
      drawNotes(now.notes);
      said.textContent = message;
      said.className = "said";
    }
    function refused(error) {
      said.textContent = `refused: ${error.message}`;
      said.className = "said bad";
    }
    for (const button of document.querySelectorAll("#decide [data-status]")) {
      button.addEventListener("click", async () => {
        try {
          const answer = await post(`${base}/decision`, { status: button.dataset.status, note: noteText.value });
          noteText.value = "";
          show(answer, `${take.version}: ${button.dataset.status}`);
        } catch (error) { refused(error); }
      });
    }

    // drawing on the frame: a canvas over the picture, at the video's own size
    const canvas = document.getElementById("drawing");
    const shownDrawing = document.getElementById("drawing-shown");
    const toggle = document.getElementById("draw-toggle");
    let drawn = false;
    if (canvas && video) {
      const context = canvas.getContext("2d");
      const fit = () => { if (video.videoWidth && canvas.width !== video.videoWidth) {
        canvas.width = video.videoWidth; canvas.height = video.videoHeight; } };
      video.addEventListener("loadedmetadata", fit);
      fit();
      let last = null;
      const at = (event) => {
        const box = canvas.getBoundingClientRect();
        return [(event.clientX - box.left) * canvas.width / box.width, (event.clientY - box.top) * canvas.height / box.height];
      };
      canvas.addEventListener("pointerdown", (event) => { last = at(event); canvas.setPointerCapture(event.pointerId); });
      canvas.addEventListener("pointermove", (event) => {
        if (!last) return;
        const next = at(event);
        context.strokeStyle = "#ff3b30";
        context.lineWidth = Math.max(2, canvas.width / 200);
        context.lineCap = "round";
        context.beginPath();
        context.moveTo(...last);
        context.lineTo(...next);
        context.stroke();
        last = next;
        drawn = true;
      });
      canvas.addEventListener("pointerup", () => { last = null; });
      toggle.addEventListener("click", () => {
        const on = canvas.hidden;
        canvas.hidden = !on;
        toggle.setAttribute("aria-pressed", String(on));
        if (on) player.stop();
      });
      document.getElementById("draw-clear").addEventListener("click", () => {
        context.clearRect(0, 0, canvas.width, canvas.height);
        drawn = false;
      });
      player.onFrame(() => { shownDrawing.hidden = true; });
    }

    document.getElementById("pin-note").addEventListener("click", async () => {
      if (!player) return;
      const body = { text: noteText.value, frame: Math.max(player.shown, 0),
                     drawing: drawn ? canvas.toDataURL("image/png") : null };
      try {
        const answer = await post(`${base}/note`, body);
        noteText.value = "";
        if (drawn) document.getElementById("draw-clear").click();
        show(answer, `note pinned at frame ${body.frame}`);
      } catch (error) { refused(error); }
    });

    function drawNotes(notes) {
      const list = document.getElementById("notes");
      list.replaceChildren(...notes.map((note) => {
        const item = el("li");
        const link = el("button", "note-link", `${note.timecode || "-"} · frame ${note.frame}`);
        link.dataset.frame = note.frame === null || note.frame === undefined ? "" : String(note.frame);
        link.dataset.drawing = note.drawing_url || "";
        item.append(link, " ", el("span", "note-text", note.text || ""), " ", el("span", "by", `— ${note.by}, ${note.at}`));
        return item;
      }));
    }
    document.getElementById("notes").addEventListener("click", async (event) => {
      const link = event.target.closest(".note-link");
      if (!link || !player || link.dataset.frame === "") return;
      await player.seek(Number(link.dataset.frame));
      if (link.dataset.drawing) {
        shownDrawing.src = link.dataset.drawing;
        shownDrawing.hidden = false;
      }
    });
  }

  // -- compare: A and B side by side or as a wipe, stepped and played together -----------------
  function comparePage() {
    const a = document.getElementById("video-a"), b = document.getElementById("video-b");
    if (!a || !b) return;
    const options = (take) => ({ rate: take.rate, frames: take.frames, timecodeStart: take.timecode_start,
                                 handles: take.handles });
    const left = new FramePlayer(a, options(data.a));
    const right = new FramePlayer(b, options(data.b));
    left.frames = right.frames = Math.min(data.a.frames, data.b.frames);
    left.followers.push(right);
    bindTransport(document.querySelector(".transport"), left);
    bindKeys(left);
    room.players.a = left;
    room.players.b = right;
    const box = document.getElementById("compare");
    const wipe = document.getElementById("wipe");
    const mode = document.getElementById("mode");
    mode.addEventListener("click", () => {
      const wiping = box.classList.toggle("wipe");
      box.classList.toggle("side", !wiping);
      wipe.hidden = !wiping;
      mode.setAttribute("aria-pressed", String(wiping));
      mode.textContent = wiping ? "side by side" : "wipe";
    });
    const place = () => box.style.setProperty("--wipe", `${wipe.value}%`);
    wipe.addEventListener("input", place);
    place();
  }

  // -- the cut: the review copy, with each shot a click away ------------------------------------
  function cutPage() {
    const video = document.getElementById("player");
    if (!video || !data.src) return;
    const player = new FramePlayer(video, { rate: data.rate, frames: data.frames, timecodeStart: data.timecode_start });
    bindTransport(document.querySelector(".transport"), player);
    bindKeys(player);
    room.players.main = player;
    const buttons = [...document.querySelectorAll("#cutlist .seek")];
    for (const button of buttons) button.addEventListener("click", () => player.seek(Number(button.dataset.frame)));
    player.onFrame((frame) => {
      data.cut.forEach((row, index) => {
        buttons[index].classList.toggle("here", frame >= row.first && frame < row.end);
      });
    });
  }

  const pages = { film: filmPage, shot: shotPage, compare: comparePage, cut: cutPage };
  const page = pages[document.body.dataset.page];
  if (page) page();
})();
