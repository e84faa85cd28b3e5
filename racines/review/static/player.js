"use strict";
// Frame-exact playback of a take's proxy (or the film's review copy) in a <video>.
//
// A seek goes to the middle of frame n, (n + 0.5) / fps: Chromium shows frame n - 1 for a
// seek to n / fps in a third to half of the cases (B-frames, 24000/1001 rates). The frame on
// screen is read back from requestVideoFrameCallback's mediaTime (the presentation time of
// the frame shown), never assumed from currentTime.

function parseRate(text) {
  const [num, den] = String(text).split("/");
  return { num: Number(num), den: Number(den || 1) };
}

// SMPTE timecode of a frame counted from `start` ("HH:MM:SS:FF", ';' before the frames for
// drop-frame at 30000/1001 and 60000/1001), as racines.edit.timecode writes it.
function timecodeOf(frame, rate, start) {
  const nominal = Math.round(rate.num / rate.den);
  const drop = start.includes(";") && nominal % 30 === 0 ? nominal / 15 : 0;
  const [hh, mm, ss, ff] = start.split(/[:;]/).map(Number);
  const minutes = hh * 60 + mm;
  let total = ((minutes * 60) + ss) * nominal + ff - drop * (minutes - Math.floor(minutes / 10)) + frame;
  if (drop) {
    const perTen = nominal * 600 - drop * 9, perMinute = nominal * 60 - drop;
    const tens = Math.floor(total / perTen), rest = total % perTen;
    total += drop * 9 * tens + (rest > drop ? drop * Math.floor((rest - drop) / perMinute) : 0);
  }
  const pad = (n) => String(n).padStart(2, "0");
  const f = total % nominal, s = Math.floor(total / nominal) % 60;
  const m = Math.floor(total / (nominal * 60)) % 60, h = Math.floor(total / (nominal * 3600)) % 24;
  return `${pad(h)}:${pad(m)}:${pad(s)}${drop ? ";" : ":"}${pad(f)}`;
}

class FramePlayer {
  // options: rate ("24" or "24000/1001"), frames, timecodeStart, handles; followers: players
  // that show the same frame as this one (the compare page's B side)
  constructor(video, options) {
    this.video = video;
    this.rate = parseRate(options.rate);
    this.frames = options.frames;
    this.start = options.timecodeStart || "00:00:00:00";
    this.handles = options.handles || 0;
    this.followers = [];
    this.listeners = [];
    this.shown = -1;       // the frame on screen, as the video reports it
    this.target = 0;       // the frame asked for last
    this.inFlight = null;  // the frame of the seek under way
    this.waiters = [];
    this.speed = 0;        // > 0 playing forward, < 0 stepping backwards, 0 stopped
    video.addEventListener("seeked", () => this._seeked());
    const watch = (now, meta) => { this._show(this.frameOf(meta.mediaTime)); video.requestVideoFrameCallback(watch); };
    video.requestVideoFrameCallback(watch);
    const begin = () => { if (this.shown < 0 && this.inFlight === null) this.seek(0); };
    video.addEventListener("loadeddata", begin);
    if (video.readyState >= 2) begin();  // loaded before this player was made (a cached file)
    video.addEventListener("pause", () => { if (this.speed > 0) this.stop(); });
  }

  frameOf(mediaTime) { return Math.round(mediaTime * this.rate.num / this.rate.den); }
  timeOf(frame) { return (frame + 0.5) * this.rate.den / this.rate.num; }
  clamp(frame) { return Math.max(0, Math.min(this.frames - 1, frame)); }
  timecode(frame) { return timecodeOf(frame, this.rate, this.start); }
  onFrame(listener) { this.listeners.push(listener); }

  _show(frame) {
    if (frame !== this.shown) {
      this.shown = frame;
      if (this.speed > 0) this.target = frame;
      for (const listener of this.listeners) listener(frame);
    }
    this._settle();
  }

  _settle() {
    if (this.inFlight === null && this.shown === this.target && !this.video.seeking) {
      const waiting = this.waiters;
      this.waiters = [];
      for (const resolve of waiting) resolve(this.shown);
    }
  }

  _go() {
    this.inFlight = this.target;
    this.video.currentTime = this.timeOf(this.target);
  }

  _seeked() {
    const asked = this.inFlight;
    this.inFlight = null;
    if (asked !== null && asked !== this.target) { this._go(); return; }  // keys pressed meanwhile
    // a seek that leaves the same frame on screen presents no new frame: read it from the clock
    clearTimeout(this._fallback);
    this._fallback = setTimeout(() => {
      if (this.inFlight === null && this.shown !== this.target) {
        this._show(Math.floor(this.video.currentTime * this.rate.num / this.rate.den));
      }
    }, 250);
    this._settle();
  }

  // Show frame n; resolves with the frame on screen once it is there (and on the followers').
  seek(frame, keepSpeed) {
    if (!keepSpeed) this.stop();
    this.target = this.clamp(frame);
    const mine = new Promise((resolve) => this.waiters.push(resolve));
    if (this.inFlight === null) this._go();
    const theirs = this.followers.map((player) => player.seek(this.target, keepSpeed));
    return Promise.all([mine, ...theirs]).then(([shown]) => shown);
  }

  step(count) { return this.seek(this.target + count); }

  play(speed) {
    this.stop();
    this.speed = speed || 1;
    for (const player of [this, ...this.followers]) {
      player.speed = this.speed;
      player.video.playbackRate = this.speed;
      player.video.play();
    }
    this._follow();
  }

  // backwards, a frame at a time: browsers do not play video in reverse
  async reverse(speed) {
    this.stop();
    const run = this.speed = -(speed || 1);
    while (this.speed === run && this.target > 0) {
      const started = performance.now();
      await this.seek(this.target - 1, true);
      const wait = 1000 * this.rate.den / (this.rate.num * -run) - (performance.now() - started);
      if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
    }
    if (this.speed === run) this.speed = 0;
  }

  stop() {
    const was = this.speed;
    this.speed = 0;
    for (const player of this.followers) player.speed = 0;
    if (was > 0) {
      for (const player of [this, ...this.followers]) player.video.pause();
      this.seek(this.shown);  // settle on the middle of the frame shown, so that stepping is exact
    }
  }

  toggle() { if (this.speed !== 0) this.stop(); else this.play(1); }

  // the followers keep to this player's clock while playing
  _follow() {
    if (!this.followers.length) return;
    const check = () => {
      if (this.speed <= 0) return;
      for (const player of this.followers) {
        if (Math.abs(player.video.currentTime - this.video.currentTime) > 0.5 * this.rate.den / this.rate.num) {
          player.video.currentTime = this.video.currentTime;
        }
      }
      this.video.requestVideoFrameCallback(check);
    };
    this.video.requestVideoFrameCallback(check);
  }
}

// The transport under a player: buttons, a scrub bar, the frame number and timecode.
function bindTransport(panel, player) {
  const scrub = panel.querySelector(".scrub");
  const number = panel.querySelector(".frame");
  const tc = panel.querySelector(".tc");
  const handle = panel.querySelector(".handle");
  const play = panel.querySelector('[data-act="play"]');
  scrub.max = String(player.frames - 1);
  const actions = {
    first: () => player.seek(0), last: () => player.seek(player.frames - 1),
    back: () => player.step(-1), fwd: () => player.step(1), play: () => player.toggle(),
  };
  for (const button of panel.querySelectorAll("[data-act]")) {
    button.addEventListener("click", () => actions[button.dataset.act]());
  }
  scrub.addEventListener("input", () => player.seek(Number(scrub.value)));
  player.onFrame((frame) => {
    number.textContent = `frame ${frame}`;
    number.dataset.frame = String(frame);
    tc.textContent = player.timecode(frame);
    scrub.value = String(frame);
    if (handle) handle.hidden = !(frame < player.handles || frame >= player.frames - player.handles);
  });
  player.video.addEventListener("play", () => { play.textContent = "❚❚"; });
  player.video.addEventListener("pause", () => { play.textContent = "▶"; });
}

// J K L, the arrows, space, Home and End, except while typing
function bindKeys(player) {
  document.addEventListener("keydown", (event) => {
    const typing = event.target.closest && event.target.closest("input, textarea, select");
    if (typing || event.ctrlKey || event.metaKey || event.altKey) return;
    const key = event.key;
    const handled = {
      ArrowRight: () => player.step(event.shiftKey ? 10 : 1),
      ArrowLeft: () => player.step(event.shiftKey ? -10 : -1),
      " ": () => player.toggle(),
      k: () => player.stop(), K: () => player.stop(),
      l: () => (player.speed > 0 ? player.play(Math.min(player.speed * 2, 8)) : player.play(1)),
      j: () => (player.speed < 0 ? player.reverse(Math.min(-player.speed * 2, 8)) : player.reverse(1)),
      Home: () => player.seek(0), End: () => player.seek(player.frames - 1),
    };
    handled.L = handled.l;
    handled.J = handled.j;
    if (handled[key]) {
      event.preventDefault();
      handled[key]();
    }
  });
}

window.RacinesPlayer = { FramePlayer, bindTransport, bindKeys, timecodeOf, parseRate };
