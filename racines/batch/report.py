"""The dailies: ``renders/dailies/DATE/index.html`` for the director, ``summary.json`` for machines.

The page is one self-contained file: inline CSS, no external resources, and relative links
to the takes' thumbnails and contact sheets, the film's review copy and each shot's log,
so the ``renders/`` folder can be served or copied as it is. Every piece of text from the
project (titles, shot ids, prompts, error messages) is HTML-escaped, and every link is
percent-encoded. A small inline script marks each picture as loaded or missing, so that a
broken link shows on the page itself.
"""

from __future__ import annotations

import html
import os
import re
import urllib.parse
from dataclasses import asdict, dataclass
from datetime import datetime
from fractions import Fraction
from pathlib import Path

import opentimelineio as otio

from racines import __version__
from racines.core.atomic import atomic_path, write_json
from racines.core.cost import sentence, totals
from racines.edit.timeline import record_ranges
from racines.errors import ExitCode
from racines.film.model import Film
from racines.takes.card import card_lines
from racines.takes.resolve import Resolver
from racines.takes.store import TakeStore

INDEX = "index.html"
SUMMARY = "summary.json"
LOGS = "logs"
OUTCOMES = {ExitCode.OK: "success", ExitCode.BATCH_PARTIAL: "partial failure", ExitCode.NOTHING_TO_DO: "nothing to do",
            ExitCode.INVALID_INPUT: "invalid input", ExitCode.INTERRUPTED: "interrupted"}


@dataclass
class Context:
    root: Path
    folder: Path                  # renders/dailies/DATE
    started: datetime
    machine: dict
    profile: str
    profile_note: str = ""
    executor: str = ""
    fatal: str = ""               # why the batch stopped before any work


def verdict(records: dict, film_record, code: int) -> str:
    counts: dict[str, int] = {}
    for record in records.values():
        counts[record.state] = counts.get(record.state, 0) + 1
    parts = [f"{n} {state}" for state, n in sorted(counts.items(), key=lambda kv: _STATE_ORDER.get(kv[0], 9))]
    return f"{', '.join(parts) or 'no shots'}; film {film_record.state}; exit {code} ({OUTCOMES.get(code, 'error')})"


_STATE_ORDER = {"failed": 0, "blocked": 1, "interrupted": 2, "made": 3, "up to date": 4, "unconsented": 5, "pending": 6}


def _record_in(film: Film) -> dict[str, tuple[Fraction, Fraction]]:
    """Each shot's first and last instant in the film, in seconds, for review-copy links: cut
    point to cut point in the timeline the film was last rendered from (edl/), so that they
    follow the trims and dissolves an editor's cut brought back."""
    try:
        timeline = otio.adapters.read_from_file(str(film.root / "edl" / f"{film.slug()}.otio"))
        ranges = record_ranges(timeline)
    except (OSError, ValueError, otio.exceptions.OTIOError):
        return {}
    return {shot: (first / film.rate, end / film.rate) for shot, (first, end) in ranges.items()}


def _rel(root: Path, path: Path) -> str:
    return path.relative_to(root).as_posix()


def _summary(context: Context, film: Film | None, records: dict, film_record, code: int) -> dict:
    root = context.root
    finished = datetime.now().astimezone()
    shots = []
    store = TakeStore(root)
    times = _record_in(film) if film else {}
    slug = film.slug() if film else "film"
    resolver = Resolver(film, store) if film is not None else None
    made, cut = [], []  # manifests: the night's new takes, and the takes the cut uses
    for shot_id, record in records.items():
        # at the batch's profile
        selected = resolver.cut_take(shot_id) if resolver and shot_id in resolver.film.shots else None
        log = context.folder / LOGS / f"{shot_id}.log"
        entry = {**asdict(record), "seconds": round(record.seconds, 2), "take": None, "log": None,
                 "cut_uses": selected.version if selected else None, "made_earlier": False}
        earlier = _made_earlier(log) if record.state == "up to date" else None
        if earlier and any(t.version == earlier[0] for t in store.takes(shot_id)):
            # made by a batch of the same day that was killed or ran before: the night's work
            entry.update(state="made", version=earlier[0], seconds=earlier[1], made_earlier=True)
        # the take made tonight is the one to look at, even when the cut keeps an approved one
        take = next((t for t in store.takes(shot_id) if t.version == entry["version"]), selected)
        if take is not None:
            media = take.manifest.get("media", {})
            entry["take"] = {"version": take.version, "folder": _rel(root, take.folder),
                             "created": take.manifest.get("created"), "cache_key": take.cache_key,
                             "thumbnail": _existing(root, take.folder / media.get("thumbnail", "thumbnail.jpg")),
                             "contact_sheet": _existing(root, take.folder / media.get("contact_sheet", "contact.jpg")),
                             "media": _existing(root, take.media),
                             "xray": next((_existing(root, take.folder / name) for name in media.get("artefacts", [])
                                           if name.startswith("xray")), None),
                             "apparatus": card_lines(take.manifest), "cost": take.manifest.get("cost") or {}}
            if entry["state"] == "made":
                made.append(take.manifest)
        if selected is not None:
            cut.append(selected.manifest)
        entry["log"] = _rel(root, log) if log.is_file() else None
        if shot_id in times:
            entry["record_in_s"], entry["record_out_s"] = (round(float(t), 3) for t in times[shot_id])
        shots.append(entry)
    review = root / "renders" / f"{slug}_review.mp4"
    master = root / "renders" / f"{slug}_master.mov"
    film_log = context.folder / LOGS / "film.log"
    return {
        "schema": "racines.dailies/1",
        "racines": __version__,
        "title": film.title if film else None,
        "date": context.folder.name,
        "started": context.started.isoformat(timespec="seconds"),
        "finished": finished.isoformat(timespec="seconds"),
        "seconds": round((finished - context.started).total_seconds(), 1),
        "machine": context.machine,
        "executor": context.executor,
        "profile": context.profile,
        "profile_note": context.profile_note,
        "exit_code": code,
        "outcome": OUTCOMES.get(code, "error"),
        "fatal": context.fatal or None,
        "film": {**asdict(film_record), "master": _existing(root, master), "review": _existing(root, review),
                 "log": _rel(root, film_log) if film_log.is_file() else None},
        "shots": shots,
        "cost": {"made": {**totals(made), "sentence": sentence(totals(made), "tonight's takes")},
                 "cut": {**totals(cut), "sentence": sentence(totals(cut), "the takes in the cut")}},
    }


MADE_LINE = re.compile(r" made (v\d{3,}) in ([0-9.]+) s: ")


def _made_earlier(log: Path) -> tuple[str, float] | None:
    """The take a worker last reported made in the shot's log of the day, and its time."""
    try:
        found = MADE_LINE.findall(log.read_text(encoding="utf-8", errors="replace"))
    except OSError:
        return None
    return (found[-1][0], float(found[-1][1])) if found else None


def _existing(root: Path, path: Path) -> str | None:
    return _rel(root, path) if path.is_file() else None


def write(context: Context, film: Film | None, records: dict, film_record, code: int) -> Path:
    """Write summary.json and index.html (each atomically); return the page's path."""
    summary = _summary(context, film, records, film_record, code)
    context.folder.mkdir(parents=True, exist_ok=True)
    write_json(context.folder / SUMMARY, summary)
    index = context.folder / INDEX
    with atomic_path(index) as tmp:
        tmp.write_text(render_page(summary, context.folder, context.root), encoding="utf-8")
    return index


# -- the page ---------------------------------------------------------------------------------

def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _href(page_dir: Path, root: Path, project_path: str, fragment: str = "") -> str:
    """A percent-encoded link from the page to a project-relative path, HTML-escaped."""
    relative = os.path.relpath(root / project_path, page_dir)
    url = urllib.parse.quote(Path(relative).as_posix(), safe="/")
    return _e(url + (f"#{fragment}" if fragment else ""))


def _duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} min {rest:02d} s" if minutes < 60 else f"{minutes // 60} h {minutes % 60:02d} min"


def _gib(count: int | None) -> str:
    return f"{count / 2**30:.1f} GiB" if count else ""


CSS = """
:root{--ink:#1d1c1a;--muted:#6b675f;--paper:#f6f3ee;--card:#fff;--line:#e4ded4;--ok:#2f7d4f;--bad:#b3261e;
--warn:#9a6200;--idle:#5b6470;font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--ink);
background:var(--paper)}
body{max-width:1180px;margin:0 auto;padding:28px 24px 60px}
header h1{font:600 2.1rem/1.1 Georgia,"Times New Roman",serif;margin:2px 0 8px}
.eyebrow{margin:0;color:var(--muted);letter-spacing:.08em;text-transform:uppercase;font-size:.78rem}
.verdict{font-size:1.05rem;margin:6px 0 14px;padding:10px 14px;border-radius:8px;background:var(--card);
border-left:5px solid var(--idle)}
.verdict.success{border-color:var(--ok)}.verdict.partial{border-color:var(--bad)}.verdict.nothing{border-color:var(--idle)}
.facts{display:flex;flex-wrap:wrap;gap:6px 22px;margin:0;color:var(--muted);font-size:.88rem}
.facts dt{display:inline;font-weight:600;color:var(--ink)}.facts dd{display:inline;margin:0 0 0 4px}
section{margin-top:26px}h2{font:600 1.15rem/1.3 Georgia,serif;margin:0 0 10px}
.film{display:grid;grid-template-columns:minmax(0,1.4fr) minmax(0,1fr);gap:18px;align-items:start}
video{width:100%;background:#000;border-radius:8px}
.panel{background:var(--card);border:1px solid var(--line);border-radius:10px;padding:14px 16px}
.attention li{margin:3px 0}
.shots{display:grid;gap:14px}
.shot{display:grid;grid-template-columns:200px minmax(0,1fr);gap:16px;background:var(--card);
border:1px solid var(--line);border-left:5px solid var(--idle);border-radius:10px;padding:14px}
.shot.made{border-left-color:var(--ok)}.shot.failed,.shot.blocked{border-left-color:var(--bad)}
.shot.interrupted{border-left-color:var(--warn)}
.shot h3{margin:0;font-size:1.1rem}.chip{font-size:.74rem;font-weight:600;padding:2px 8px;border-radius:99px;
margin-left:8px;vertical-align:2px;color:#fff;background:var(--idle);text-transform:uppercase;letter-spacing:.04em}
.made .chip{background:var(--ok)}.failed .chip,.blocked .chip{background:var(--bad)}.interrupted .chip{background:var(--warn)}
.meta{color:var(--muted);margin:2px 0 6px;font-size:.9rem}
.thumb img{width:200px;border-radius:6px;display:block}
.noimage{width:200px;height:112px;border-radius:6px;background:repeating-linear-gradient(45deg,#eee9e0,#eee9e0 8px,
#e6e0d5 8px,#e6e0d5 16px);display:grid;place-items:center;color:var(--muted);font-size:.85rem}
.strip{max-width:100%;border-radius:4px;margin:6px 0}
.xray{image-rendering:pixelated}
.apparatus pre{white-space:pre-wrap;font-size:12px;margin:4px 0}
.why{margin:4px 0;font-size:.9rem}
pre.error{background:#fbeeec;color:#5e1410;border-radius:6px;padding:8px 10px;white-space:pre-wrap;
overflow-wrap:anywhere;font-size:.82rem;margin:6px 0}
.fix{font-size:.9rem;margin:4px 0}.links{font-size:.88rem;margin:6px 0 0}
a{color:#22577a}img[data-loaded=no]{outline:3px dashed var(--bad);min-height:40px}
footer{margin-top:34px;color:var(--muted);font-size:.82rem}
@media (max-width:720px){.film,.shot{grid-template-columns:1fr}}
"""

# marks every picture loaded="yes" or "no" once the browser knows, so a broken link shows
SCRIPT = """
for (const img of document.images) {
  const mark = () => { img.dataset.loaded = img.naturalWidth > 0 ? "yes" : "no"; };
  if (img.complete) { mark(); } else { img.addEventListener("load", mark); img.addEventListener("error", mark); }
}
"""


def render_page(summary: dict, page_dir: Path, root: Path) -> str:
    title = summary["title"] or root.name
    code = summary["exit_code"]
    tone = {ExitCode.OK: "success", ExitCode.BATCH_PARTIAL: "partial", ExitCode.NOTHING_TO_DO: "nothing"}.get(code, "partial")
    shots = summary["shots"]
    counts: dict[str, int] = {}
    for shot in shots:
        counts[shot["state"]] = counts.get(shot["state"], 0) + 1
    said = ", ".join(f"{n} {state}" for state, n in sorted(counts.items(), key=lambda kv: _STATE_ORDER.get(kv[0], 9)))
    film = summary["film"]
    headline = {ExitCode.OK: "Everything rendered.", ExitCode.NOTHING_TO_DO: "Nothing was stale: nothing to render.",
                ExitCode.BATCH_PARTIAL: "Some of the batch failed; the rest was rendered.",
                ExitCode.INTERRUPTED: "The batch was interrupted; the next run resumes it."}.get(
        code, "The batch stopped before rendering anything.")
    out = ["<!doctype html>", '<html lang="en"><head><meta charset="utf-8">',
           '<meta name="viewport" content="width=device-width, initial-scale=1">',
           f"<title>Dailies {_e(summary['date'])}: {_e(title)}</title><style>{CSS}</style></head><body>",
           "<header>", f'<p class="eyebrow">Dailies · {_e(summary["date"])}</p>', f"<h1>{_e(title)}</h1>",
           f'<p class="verdict {tone}" id="verdict" data-exit-code="{_e(code)}"><strong>{_e(headline)}</strong> '
           f'{_e(said)}{"; " if said else ""}film {_e(film["state"])}.</p>', '<dl class="facts">']
    facts = [("Started", summary["started"].replace("T", " ")), ("Took", _duration(summary["seconds"])),
             ("Profile", summary["profile"] + (f" ({summary['profile_note']})" if summary["profile_note"] else "")),
             ("Ran on", summary["executor"] or "-"), ("Machine", summary["machine"].get("host", "?")),
             ("Exit code", f"{code} ({summary['outcome']})")]
    if summary.get("cost"):
        facts += [("Cost", summary["cost"][part]["sentence"]) for part in ("made", "cut")
                  if summary["cost"][part]["takes"] or summary["cost"][part]["takes_without_cost"]]
    out += [f"<div><dt>{_e(k)}</dt><dd>{_e(v)}</dd></div>" for k, v in facts] + ["</dl>", "</header>"]
    if summary["fatal"]:
        out += ['<section class="panel" id="fatal"><h2>The batch stopped before any work</h2>',
                f'<pre class="error">{_e(summary["fatal"])}</pre></section>']
    out += _film_section(summary, page_dir, root)
    trouble = [s for s in shots if s["state"] in ("failed", "blocked", "interrupted")]
    if trouble:
        out += ['<section class="panel attention" id="attention"><h2>Needs attention</h2><ul>']
        out += [f'<li><a href="#shot-{_e(s["shot_id"])}">{_e(s["shot_id"])}</a> {_e(s["state"])}: '
                f'{_e(_first_line(s["error"] or " ".join(s["reasons"])))}</li>' for s in trouble]
        out += ["</ul></section>"]
    if shots:
        out += ['<section><h2>Shots, in the order of the cut</h2><div class="shots" id="shots">']
        out += [_shot_card(s, summary, page_dir, root) for s in shots]
        out += ["</div></section>"]
    out += [f'<footer>Written by racines {_e(summary["racines"])}. For scripts: <a href="{SUMMARY}">{SUMMARY}</a>.'
            "</footer>", f"<script>{SCRIPT}</script>", "</body></html>"]
    return "\n".join(out) + "\n"


def _first_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[0] if lines else ""


def _film_section(summary: dict, page_dir: Path, root: Path) -> list[str]:
    film = summary["film"]
    out = ['<section class="film" id="film">']
    if film["review"]:
        out.append(f'<video controls preload="metadata" src="{_href(page_dir, root, film["review"])}"></video>')
    else:
        out.append('<div class="panel"><p>No review copy of the film yet.</p></div>')
    out += ['<div class="panel">', f"<h2>The film: {_e(film['state'])}</h2>"]
    if film["detail"]:
        out.append(f'<p class="why">{_e(film["detail"])}</p>')
    links = [(label, path) for label, path in (("review copy (H.264)", film["review"]),
                                               ("master (ProRes)", film["master"]), ("film log", film["log"])) if path]
    links += [(Path(p).name, p) for p in film["edl_written"]]
    if links:
        out.append('<p class="links">' + " · ".join(f'<a href="{_href(page_dir, root, p)}">{_e(label)}</a>'
                                                   for label, p in links) + "</p>")
    out += ["</div>", "</section>"]
    return out


def _shot_card(shot: dict, summary: dict, page_dir: Path, root: Path) -> str:
    take, state = shot["take"], shot["state"]
    sid = shot["shot_id"]
    parts = [f'<article class="shot {_e(state.replace(" ", "-"))}" id="shot-{_e(sid)}" data-shot="{_e(sid)}" '
             f'data-state="{_e(state)}">', '<div class="thumb">']
    if take and take["thumbnail"]:
        picture = f'<img src="{_href(page_dir, root, take["thumbnail"])}" alt="{_e(sid)} {_e(take["version"])}" width="200">'
        parts.append(f'<a href="{_href(page_dir, root, take["contact_sheet"])}">{picture}</a>'
                     if take["contact_sheet"] else picture)
    else:
        parts.append('<div class="noimage">no take yet</div>')
    parts += ["</div>", "<div>", f'<h3>{_e(sid)}<span class="chip">{_e(state)}</span></h3>']
    meta = [shot["kind"], f"{shot['frames']} frames"]
    if take:
        in_cut = shot["cut_uses"] == take["version"]
        if state == "made":
            meta.append(f"made {take['version']}" + (" by an earlier batch today" if shot["made_earlier"] else "")
                        + (", in the cut" if in_cut else ""))
        elif in_cut:
            older = state in ("failed", "blocked", "interrupted")
            meta.append(f"the cut uses {take['version']}" + (" (an older take)" if older else ""))
        if not in_cut and shot["cut_uses"]:
            meta.append(f"the cut keeps the approved {shot['cut_uses']}")
    if shot["attempts"]:
        meta.append(f"{shot['attempts']} attempt{'s' if shot['attempts'] != 1 else ''}, {_duration(shot['seconds'])}")
    elif shot["made_earlier"]:
        meta.append(_duration(shot["seconds"]))
    if shot["peak_gpu_bytes"]:
        meta.append(f"peak GPU memory {_gib(shot['peak_gpu_bytes'])}")
    if shot["host"]:
        meta.append(f"on {shot['host']}")
    parts.append(f'<p class="meta">{" · ".join(_e(m) for m in meta)}</p>')
    if shot["reasons"] and (shot["before"] != "up to date" or state == "blocked"):
        label = {"blocked": "Waiting", "unconsented": "Left out"}.get(state, "Why it ran")
        parts.append(f'<p class="why"><strong>{label}:</strong> {_e("; ".join(shot["reasons"]))}</p>')
    if shot["error"]:
        excerpt = "\n".join(shot["error"].strip().splitlines()[-12:])
        parts.append(f'<pre class="error">{_e(excerpt)}</pre>')
    if shot["fix"]:
        parts.append(f'<p class="fix"><strong>What to do:</strong> {_e(shot["fix"])}</p>')
    if take and take["contact_sheet"]:
        parts.append(f'<img class="strip" src="{_href(page_dir, root, take["contact_sheet"])}" '
                     f'alt="contact sheet of {_e(sid)} {_e(take["version"])}">')
    if take and take.get("xray"):
        parts.append(f'<img class="strip xray" src="{_href(page_dir, root, take["xray"])}" '
                     f'alt="x-ray of {_e(sid)} {_e(take["version"])}: the image emerging step by step">')
    if take and take.get("apparatus"):
        parts.append('<details class="apparatus"><summary>Apparatus card</summary>'
                     f'<pre>{_e(chr(10).join(take["apparatus"]))}</pre></details>')
    links = []
    if summary["film"]["review"] and "record_in_s" in shot and take:
        fragment = f"t={shot['record_in_s']:g},{shot['record_out_s']:g}"
        links.append(f'<a href="{_href(page_dir, root, summary["film"]["review"], fragment)}">watch it in the '
                     "review copy</a>")
    if take and take["media"]:
        links.append(f'<a href="{_href(page_dir, root, take["media"])}">take media (ProRes)</a>')
    if shot["log"]:
        links.append(f'<a href="{_href(page_dir, root, shot["log"])}">log</a>')
    if links:
        parts.append(f'<p class="links">{" · ".join(links)}</p>')
    parts += ["</div>", "</article>"]
    return "\n".join(parts)
