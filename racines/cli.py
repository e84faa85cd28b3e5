"""The ``racines`` command: thin click commands over :mod:`racines.pipeline`.

Exit codes: 0 success; 1 internal error (a bug: rerun with --debug and report it);
2 invalid input (shot files, photographs, consent, usage); 3 a render failed (ffmpeg or a
generator); 4 the batch finished with failures; 5 the batch found nothing to do; 75 another
batch or render holds the project's lock; 130 interrupted.
"""

from __future__ import annotations

import json
import sys
import traceback
from pathlib import Path

import click
import opentimelineio as otio

from racines import __version__, pipeline
from racines.core.identity import cpu_cores
from racines.core.process import tune_for_frames
from racines.edit.text import one_line
from racines.errors import ExitCode, RacinesError, UsageError
from racines.film.schema import FilmSettings, ModelsFile, SoundFile
from racines.takes.reviews import STATUSES, set_status
from racines.takes.store import TakeStore


class _Bars:
    """Progress bars on stderr, one per shot or render, fed frame counts."""

    def __init__(self, enabled: bool):
        self.enabled = enabled

    def __call__(self, label: str, total: int):
        if not self.enabled:
            return None
        bar = click.progressbar(length=total, label=label.ljust(24), file=sys.stderr, show_pos=True)
        bar.__enter__()
        state = {"done": 0}

        def advance(count: int) -> None:
            bar.update(count - state["done"])
            state["done"] = count
            if count >= total:
                bar.__exit__(None, None, None)

        return advance


class Context:
    def __init__(self, project: Path, debug: bool):
        self.project = project
        self.debug = debug

    def film(self, profile: str | None = None, models: bool = False):
        """The project at ``profile``; with ``models``, refused unless the models it needs are here."""
        return pipeline.load(self.project, profile, models)


def _set_project(ctx: click.Context, _param, value: Path | None) -> None:
    if value is not None:
        ctx.find_object(Context).project = value


def _set_debug(ctx: click.Context, _param, value: bool) -> None:
    if value:
        ctx.find_object(Context).debug = True


class RacinesGroup(click.Group):
    """racines' commands: ``--project`` and ``--debug`` before or after the command's name, and
    every error turned into its exit code here, once (see the module's docstring)."""
    def command(self, *args, **kwargs):
        decorate = super().command(*args, **kwargs)

        def with_common_options(function):
            function = click.option("--debug", is_flag=True, expose_value=False, callback=_set_debug,
                                    help="Show tracebacks on errors.")(function)
            function = click.option("--project", type=click.Path(file_okay=False, path_type=Path), default=None,
                                    expose_value=False, callback=_set_project,
                                    help="Project folder (the one holding shots/film.yaml).")(function)
            return decorate(function)

        return with_common_options

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except RacinesError as exc:
            click.echo(f"error: {exc}", err=True)
            if _debugging(ctx):
                traceback.print_exc()
            sys.exit(exc.exit_code)
        except KeyboardInterrupt:
            click.echo("interrupted; nothing half-written was kept", err=True)
            sys.exit(ExitCode.INTERRUPTED)
        except (click.exceptions.Exit, click.ClickException, SystemExit):
            raise
        except Exception as exc:  # noqa: BLE001 - the last line of defence prints a useful message
            if _debugging(ctx):
                traceback.print_exc()
            else:
                click.echo(f"internal error: {type(exc).__name__}: {exc}\n    rerun with --debug for the "
                           "traceback, and report it", err=True)
            sys.exit(ExitCode.INTERNAL)


def _debugging(ctx: click.Context) -> bool:
    return bool(getattr(ctx.obj, "debug", False))


def _echo(event: pipeline.Event) -> None:
    click.echo(event.text, err=event.notice)
    sys.stdout.flush()  # cron logs and watchers read the lines as they come


@click.group(cls=RacinesGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="racines")
@click.option("--project", type=click.Path(file_okay=False, path_type=Path), default=Path("."),
              show_default=True, help="Project folder (the one holding shots/film.yaml); also after the command.")
@click.option("--debug", is_flag=True, help="Show tracebacks on errors; also after the command.")
@click.pass_context
def main(click_ctx: click.Context, project: Path, debug: bool) -> None:
    """racines: archive photographs and shot files to takes, EDLs and a rendered film."""
    tune_for_frames()  # before any frame is made; forked batch workers inherit it
    click_ctx.obj = Context(project, debug)


PROFILE = click.option(
    "--profile", type=click.Choice(["draft", "final"]), default=None,
    help="draft: weightless generators; final: each shot's final: diffusion generator. "
         "Default: each shot's profile:, else the film's (film.yaml).")


@main.command()
@PROFILE
@click.pass_obj
def validate(ctx: Context, profile: str | None) -> None:
    """Check every shot file, photograph and needed model; report all problems at once (exit 2 on any)."""
    film = pipeline.validate(ctx.project, profile)
    shots = film.shots_in_cut()
    total = film.duration()
    duration = otio.opentime.to_timecode(otio.opentime.RationalTime(total, float(film.rate)), float(film.rate))
    unconsented = [s.id for s in shots if not s.consented]
    click.echo(f"ok: {one_line(film.title)}: {len(film.shots)} shot files, {len(shots)} in the cut, "
               f"{total} frames ({duration}) at {film.rate_text} fps, {film.width}x{film.height}")
    if unconsented:
        click.echo(f"note: without consent, not renderable: {', '.join(unconsented)}")
    for clip in pipeline.unconsented(film):
        click.echo(f"note: without consent, not heard: {clip.recording.relpath} ({clip.file}, {clip.field})")
    for withdrawal, made in pipeline.lora_withdrawals(film):
        click.echo(f"note: {withdrawal.line()}: shots naming it, not renderable: {', '.join(withdrawal.shots)}; "
                   f"takes made with it: {', '.join(made) or 'none'}")
    for lora, count in pipeline.unaccounted(film).items():
        click.echo(f"note: LoRA {lora} learned from {count} photograph{'s' if count > 1 else ''} the project no longer "
                   "holds: their consent cannot be checked (keep a withdrawn photograph, with consent: withdrawn)")
    for note in pipeline.recording_notes(film):
        click.echo(f"note: sound: {note}")
    for note in pipeline.generator_notes(film):
        click.echo(f"note: {note}")
    finals = [s.id for s in shots if s.renders_final]
    if finals:
        click.echo(f"final profile: {', '.join(finals)} (their models are here)")
    for name, shot_ids in sorted(pipeline.missing_final_models(film).items()):
        click.echo(f"note: --profile final needs model '{name}' ({', '.join(shot_ids)}), not on this "
                   "machine: racines models says how to get it")


@main.command()
@click.option("--shot", "shots", multiple=True, metavar="ID", help="Render only this shot's take (repeatable).")
@click.option("--skip-unconsented", is_flag=True, help="Leave out shots without granted consent instead of stopping.")
@click.option("--no-review", is_flag=True, help="Do not make the H.264 review copy.")
@click.option("--no-master", is_flag=True,
              help="Leave the ProRes master as it is: takes, EDL and review copy only (quick iterations).")
@click.option("--quiet", is_flag=True, help="No progress bars.")
@click.option("--wait", "wait_s", type=click.FloatRange(0), default=0, metavar="SECONDS",
              help="Wait this long for a batch or render running in this project instead of refusing at once.")
@click.option("--burn-in", "burn_in", multiple=True, metavar="LANG",
              help="Also write renders/<film>_review.LANG.mp4, the review copy with LANG's subtitles drawn in (repeatable).")
@click.option("--burn-in-fonts", type=click.Path(file_okay=False, path_type=Path), metavar="DIR",
              help="The fonts to draw burned-in subtitles with [default: DejaVu, which has no CJK letters].")
@PROFILE
@click.pass_obj
def render(ctx: Context, shots: tuple[str, ...], skip_unconsented: bool, no_review: bool, no_master: bool,
           quiet: bool, wait_s: float, burn_in: tuple[str, ...], burn_in_fonts: Path | None, profile: str | None) -> None:
    """Make the takes, then the timeline, the EDL and the film (or only the takes named by --shot).
    One render or batch at a time per project: another one refuses (exit 75) or --wait."""
    options = pipeline.RenderOptions(profile=profile, shots=shots, skip_unconsented=skip_unconsented, wait_s=wait_s,
                                     film=pipeline.FilmOptions(master=not no_master, review=not no_review,
                                                               workers=cpu_cores(), burn_in=burn_in,
                                                               burn_in_fonts=burn_in_fonts))
    pipeline.render(ctx.project, options, _echo, _Bars(not quiet and sys.stderr.isatty()))


@main.command()
@click.option("--profile", type=click.Choice(["draft", "final"]), default="final", show_default=True,
              help="final: each shot's final: diffusion generator (shots without one render as draft); "
                   "draft: the weightless generators.")
@click.option("--executor", type=click.Choice(["local", "ray"]), default="local", show_default=True,
              help="Worker processes on this machine, or Ray tasks (a local instance, or --address).")
@click.option("--address", metavar="HOST:PORT", help="The Ray cluster to run on (with --executor ray).")
@click.option("--jobs", type=click.IntRange(1), metavar="N",
              help="Shots at once, at most [default: diffusion shots one per GPU (one without), "
                   "weightless shots on the cores left, at the same time].")
@click.option("--wait", "wait_s", type=click.FloatRange(0), default=0, metavar="SECONDS",
              help="Wait this long for another batch to finish instead of refusing at once.")
@click.option("--retries", type=click.IntRange(0), default=2, show_default=True,
              help="Further attempts after a failure that can pass (worker lost, memory, disk).")
@click.option("--backoff", "backoff_s", type=click.FloatRange(0), default=30, show_default=True, metavar="SECONDS",
              help="Wait before the first retry; doubles after each further one.")
@click.option("--skip-unconsented", is_flag=True, help="Leave out shots without granted consent instead of stopping.")
@click.option("--no-review", is_flag=True, help="Do not make the H.264 review copy.")
@click.pass_obj
def batch(ctx: Context, profile: str, executor: str, address: str | None, jobs: int | None, wait_s: float,
          retries: int, backoff_s: float, skip_unconsented: bool, no_review: bool) -> None:
    """The nightly batch: render every stale shot, then the EDL and the film; write the dailies.

    Non-interactive, for cron. Exit 0 when everything succeeded, 4 when some shots or the
    film failed (the others are rendered), 5 when nothing was stale, 75 when another batch
    holds the lock, 2 on invalid shot files. The report is renders/dailies/DATE/index.html.
    """
    from racines.batch.policy import RetryPolicy
    from racines.batch.run import BatchOptions, run_batch

    options = BatchOptions(profile=profile, executor=executor, address=address, jobs=jobs, wait_s=wait_s,
                           policy=RetryPolicy(max_attempts=retries + 1, backoff_s=backoff_s),
                           skip_unconsented=skip_unconsented, review=not no_review)
    if address and executor != "ray":
        raise UsageError("--address names a Ray cluster: add --executor ray")

    # SIGTERM (cron, systemd) stops it as Ctrl-C does: see racines.batch.run.StopOnSignal
    result = run_batch(ctx.project, options, lambda line: _echo(pipeline.Event(line)))
    if result.exit_code:
        sys.exit(result.exit_code)


@main.command()
@click.option("--skip-unconsented", is_flag=True, help="Leave out shots without granted consent.")
@click.option("--bundle", "bundle", is_flag=False, flag_value="", default=None, metavar="[PATH]",
              help="Also write a hand-over folder (or PATH.otioz) with the media, relative paths.")
@PROFILE
@click.pass_obj
def edl(ctx: Context, skip_unconsented: bool, bundle: str | None, profile: str | None) -> None:
    """Write edl/<film>.otio, .edl, .xml and .aaf from the takes the cut uses."""
    film, _ = pipeline.consent_gate(ctx.film(profile), skip_unconsented)
    takes = pipeline.selected_takes(film)
    _, written = pipeline.export_edit(film, takes, aaf=True, on_event=_echo)
    for path in written:
        click.echo(f"wrote {path.relative_to(film.root)}")
    if not written:
        click.echo("edl/ is up to date")
    if bundle is not None:
        path = pipeline.bundle_edit(film, takes, Path(bundle).resolve() if bundle else None)
        click.echo(f"wrote {path}")


@main.command()
@click.argument("edited", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--dry-run", is_flag=True, help="Only print what would change.")
@click.pass_obj
def conform(ctx: Context, edited: Path, dry_run: bool) -> None:
    """Bring the editor's cut (EDITED.edl, .xml or .otio) back into the shot files."""

    film = ctx.film()
    report = pipeline.conform_cut(film, edited, write=not dry_run)
    for line in report.lines:
        click.echo(line)
    for line in report.unknown:
        click.echo(f"unknown: {line}")
    if not report.changed:
        click.echo("the cut matches the shot files: nothing to change")
    elif dry_run:
        click.echo("dry run: nothing written")
    else:
        click.echo("shot files updated; racines render makes what the cut now needs")


@main.command()
@click.option("--why", is_flag=True, help="Say which inputs changed for stale shots.")
@PROFILE
@click.pass_obj
def status(ctx: Context, why: bool, profile: str | None) -> None:
    """Per shot of the cut: up to date, stale, missing, failed or unconsented."""
    states = pipeline.film_status(ctx.film(profile))
    for state in states:
        take = f"{state.selected.version} ({state.review})" if state.selected else "-"
        click.echo(f"{state.shot_id:<12} {state.state:<12} {take}")
        if why or state.state in ("failed", "unconsented"):
            for reason in state.reasons:
                click.echo(f"{'':<12} - {reason}")
    counts = {}
    for state in states:
        counts[state.state] = counts.get(state.state, 0) + 1
    click.echo(", ".join(f"{n} {name}" for name, n in counts.items()))


@main.command()
@click.argument("shot")
@PROFILE
@click.pass_obj
def takes(ctx: Context, shot: str, profile: str | None) -> None:
    """List a shot's takes, with their review status and which one the timeline uses."""

    film = ctx.film(profile)
    pipeline.select_shots(film, [shot])
    listing = pipeline.shot_takes(film, shot)
    found, selected, review = listing.takes, listing.selected, listing.review
    if not found:
        click.echo(f"{shot}: no take yet (racines render --shot {shot})")
    for take in found:
        mark = "*" if selected and take.folder == selected.folder else " "
        note = review.note_of(take.version)
        click.echo(f"{mark} {take.version}  {review.status_of(take.version):<9} {take.manifest.get('created', '')}  "
                   f"{take.frames} frames  seed {take.manifest['generator']['settings'].get('seed')}"
                   + (f"  \"{note}\"" if note else ""))
    if found:
        click.echo("* the take the timeline uses" + (" (approved)" if review.approved else
                                                      " (none approved: the shot as it stands, else the newest)"))


@main.command()
@click.argument("shot")
@click.argument("version")
@click.option("--note", default="", help="A note kept with the decision.")
@click.pass_obj
def approve(ctx: Context, shot: str, version: str, note: str) -> None:
    """Choose the take the timeline uses for SHOT (e.g. racines approve s020 v003)."""
    _review(ctx, shot, version, "approved", note)


@main.command()
@click.argument("shot")
@click.argument("version")
@click.argument("state", type=click.Choice(list(STATUSES)))
@click.option("--note", default="", help="A note kept with the decision.")
@click.pass_obj
def review(ctx: Context, shot: str, version: str, state: str, note: str) -> None:
    """Set a take's status: wip, review, approved or retake."""
    _review(ctx, shot, version, state, note)


def _review(ctx: Context, shot: str, version: str, state: str, note: str) -> None:
    film = ctx.film()
    pipeline.select_shots(film, [shot])
    set_status(film.root, TakeStore(film.root), shot, version, state, note)
    click.echo(f"{shot} {version}: {state}" + (f" ({note})" if note else ""))


@main.command()
@click.option("--port", type=click.IntRange(0, 65535), default=8765, show_default=True,
              help="The port to listen on (0: any free port).")
@click.option("--share", is_flag=True,
              help="Listen on the network (0.0.0.0), letting in only the people of renders/review-tokens.yaml, "
                   "each with a link of their own; their decisions record their names.")
@click.option("--host", default=None, metavar="ADDRESS",
              help="The address to listen on [default: 127.0.0.1, or 0.0.0.0 with --share].")
@PROFILE
@click.pass_obj
def serve(ctx: Context, port: int, share: bool, host: str | None, profile: str | None) -> None:
    """The review room: watch, compare, step through and decide on takes in a web browser."""
    from racines.review.run import serve as serve_room

    def say(line: str) -> None:
        click.echo(line)
        sys.stdout.flush()  # whoever started the room reads its address at once

    serve_room(ctx.project, port=port, share=share, host=host, profile=profile, echo=say)


@main.command()
@click.argument("shot")
@click.option("--scale", type=click.FloatRange(0.05, 1.0), default=0.25, show_default=True,
              help="Size of the draft relative to the film's resolution.")
@click.pass_obj
def preview(ctx: Context, shot: str, scale: float) -> None:
    """A fast low-resolution draft of SHOT: an MP4 and a contact strip (no take is made)."""
    film = ctx.film("draft")  # a preview is a draft: seconds, on any machine
    pipeline.select_shots(film, [shot])
    pipeline.consent_gate(film, False, [shot])
    movie, sheet = pipeline.preview_shot(film, shot, scale)
    click.echo(f"wrote {movie.relative_to(film.root)}\nwrote {sheet.relative_to(film.root)}")


@main.command("contact-sheet")
@PROFILE
@click.pass_obj
def contact_sheet(ctx: Context, profile: str | None) -> None:
    """Draw the whole film as one picture: a row per shot with frames, id, take and status."""

    film = ctx.film(profile)
    click.echo(f"wrote {pipeline.film_contact_sheet(film).relative_to(film.root)}")


@main.command()
@click.argument("shot")
@click.option("--json", "as_json", is_flag=True, help="Print the whole manifest as JSON.")
@click.option("--apparatus", "show_apparatus", is_flag=True,
              help="Print the take's apparatus card: the chain of models, their size, licence and revision, what "
              "the text encoders read and cut off, the scheduler, and what the take cost.")
@PROFILE
@click.pass_obj
def provenance(ctx: Context, shot: str, as_json: bool, show_apparatus: bool, profile: str | None) -> None:
    """How SHOT's take was made: photograph, consent, prompts, seed, generator, versions, machine."""
    film = ctx.film(profile)
    pipeline.select_shots(film, [shot])
    take, embedded = pipeline.provenance(film, shot)
    manifest = take.manifest
    if show_apparatus:
        from racines.takes.card import card_lines

        click.echo("\n".join(card_lines(manifest)))
        return
    voices = pipeline.shot_voices(film, shot)
    if as_json:
        click.echo(json.dumps({**manifest, **({"sound": voices} if voices else {})}, indent=2, sort_keys=True,
                              ensure_ascii=False))
        return
    source, generator = manifest.get("source"), manifest["generator"]
    settings = generator["settings"]
    lines = [f"shot {manifest['shot']} take {manifest['take']} ({take.media.relative_to(film.root)}, reel {take.reel})"]
    if source:
        lines += [f"photograph   {source['photo']} sha256 {source['sha256'][:16]}...",
                  f"contributor  {source['contributor']} (consent: {source['consent']}; credit: {source['credit']})"]
    runs = manifest.get("generation", {}).get("runs", [])
    enhanced = [run["prompt_enhanced"] for run in runs if run.get("prompt_enhanced")]
    lines += [f"generator    {generator.get('description', generator['name'])}"
              f" (profile {manifest.get('profile', 'draft')})",
              *(f"model        {run['model']} ({run['pipeline']}, {run['device']} {run['dtype']})" for run in runs),
              f"prompt       {settings.get('prompt') or '-'}",
              *(f"  enhanced   {text}" for text in enhanced),
              f"negative     {settings.get('negative_prompt') or '-'}",
              f"seed         {settings.get('seed')}",
              *(f"lora         {path} tensors sha256 {identity[:16]}..." + (
                  f" (dataset '{dataset}', learned from photographs by {', '.join(people)})" if dataset else
                  " (no dataset manifest: what it learned from is unknown to the project)")
                for path, identity, dataset, people in pipeline.take_loras(film, take)),
              "software     " + ", ".join(f"{k} {v}" for k, v in sorted(manifest["software"].items())),
              f"machine      {manifest['machine']['host']} ({manifest['machine']['platform']}), "
              f"by {manifest['machine']['user']} at {manifest['created']}",
              f"timings      {manifest.get('timings', {})}"]
    same = embedded is not None and all(embedded.get(k) == manifest.get(k) for k in embedded)
    lines.append("embedded     " + ("in the media, matching the manifest" if same else
                                    "MISSING or different in the media: the file was altered or re-encoded"))
    lines += [f"voice        {v['recording']} sha256 {v['sha256'][:16]}...: {v['person']} ({v['language']}; "
              f"consent: {v['consent']}; licence: {v['licence'] or '-'}; credit: {v['credit']})" for v in voices]
    click.echo("\n".join(lines))


@main.command()
@click.argument("source", metavar="IN", type=click.Path(path_type=Path))
@click.argument("output", metavar="OUT", type=click.Path(path_type=Path))
@click.option("--fps", "rate", required=True, metavar="RATE",
              help="Output rate: exact (24, 25, '24000/1001') or a multiple of the input's ('2x').")
@click.option("--device", default="auto", show_default=True, help="auto (CUDA when available), cpu or cuda.")
@click.option("--quality", type=click.Choice(["draft", "normal", "high"]), default="normal", show_default=True,
              help="draft: fastest flow; high: bicubic resampling, sharper on detailed footage (slower).")
@click.option("--span", type=click.Choice(["duration", "endpoints"]), default="duration", show_default=True,
              help="Keep the clip's running time (sound stays in sync), or run from its first frame to its last.")
@click.option("--no-audio", is_flag=True, help="Leave the sound out.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
@click.pass_obj
def interpolate(ctx: Context, source: Path, output: Path, rate: str, device: str, quality: str, span: str,
                no_audio: bool, quiet: bool) -> None:
    """Retime the video IN to --fps with motion-compensated in-between frames; write OUT (.mov or .mp4)."""
    from racines import motion

    try:
        interpolator = motion.for_quality(quality, device=device)
    except (ValueError, RuntimeError) as exc:
        raise UsageError(f"--device: {exc}") from None
    if interpolator.device.type == "cpu":
        motion.configure_cpu_threads()
    bar = {}

    def progress(done: int, expected: int | None) -> None:
        # expected comes from the container's frame count, an estimate for some formats
        if quiet or not sys.stderr.isatty() or not expected or bar.get("finished"):
            return
        if "advance" not in bar:
            bar["advance"] = _Bars(True)(output.name, expected)
        bar["advance"](min(done, expected))
        bar["finished"] = done >= expected

    result = motion.interpolate_file(source, output, rate, interpolator, span=span, audio=not no_audio,
                                     on_frame=progress)
    click.echo(f"wrote {result.output} ({result.frames_out} frames at {motion.rate_text(result.rate)} fps "
               f"from {result.frames_in} at {result.source.rate_text}, on {interpolator.device.type})")


@main.command()
@click.pass_obj
def models(ctx: Context) -> None:
    """List the models shots can name: present or missing, size, licence, and how to get the missing ones."""
    from racines.models.listing import human_size, model_rows

    film = ctx.film("draft")
    rows = model_rows(film)
    width = max(len(row.name) for row in rows)
    for row in rows:
        used = f"  used by {', '.join(row.used_by)}" if row.used_by else ""
        click.echo(f"{row.name:<{width}}  {row.state:<8} {human_size(row.size):>9}  {row.source}{used}")
        click.echo(f"{'':<{width}}  licence: {row.licence}")
        if row.note:
            click.echo(f"{'':<{width}}  {'get it' if row.state == 'missing' else 'note'}: {row.note}")
    present = sum(row.state == "present" for row in rows)
    click.echo(f"{present} of {len(rows)} models present; models.yaml at the project root adds or overrides "
               "names (repo: + revision:, or path:)")


@main.group(cls=RacinesGroup)
def subtitles() -> None:
    """Subtitles: transcripts beside each voice, cues to the timed-text rules (see docs/subtitles.md)."""


@subtitles.command("check")
@click.option("--language", "languages", multiple=True, metavar="L",
              help="Check only this subtitle language (repeatable); default: film.yaml's subtitles.languages, "
                   "else every language a voice speaks.")
@click.pass_obj
def subtitles_check(ctx: Context, languages: tuple[str, ...]) -> None:
    """Build every language's cues and list each one breaking a rule, each transcript problem and each
    machine draft not yet reviewed (exit 2 when a rule is broken)."""
    report = pipeline.subtitles_check(ctx.project, list(languages) or None)
    for problem in report.problems:
        click.echo(str(problem))
    for draft in report.drafts:
        click.echo(f"note: {draft.relpath}: a machine draft ({draft.model or 'model unknown'}) not yet reviewed; "
                   "read it, then write 'Origin: reviewed machine draft, ...' in its header")
    counts = ", ".join(f"{language} {len(track.cues)} cue{'s' if len(track.cues) != 1 else ''}"
                       for language, track in report.tracks.items()) or "no language"
    if report.problems:
        click.echo(f"{len(report.problems)} problem{'s' if len(report.problems) != 1 else ''} ({counts})", err=True)
        sys.exit(ExitCode.INVALID_INPUT)
    drafts = f"; {len(report.drafts)} machine draft(s) not yet reviewed" if report.drafts else ""
    click.echo(f"ok: {counts}: every cue keeps every rule{drafts}")


DRAFT_OPTIONS = [
    click.option("--device", default="auto", show_default=True, help="auto (CUDA when available), cpu or cuda."),
    click.option("--voice", "voices", multiple=True, metavar="FILE",
                 help="Only this voice recording, as the project names it (e.g. shots/sound/amina_fr.wav; repeatable)."),
    click.option("--redo", is_flag=True, help="Draft again where the draft is up to date (a typed or reviewed "
                 "transcript is still never replaced)."),
]


def _draft_options(function):
    for option in reversed(DRAFT_OPTIONS):
        function = option(function)
    return function


def _draft_outcome(outcome) -> None:
    click.echo(str(outcome), err=outcome.state == "refused")
    sys.stdout.flush()


def _draft_summary(outcomes: list) -> None:
    """One line of counts; exit 2 when a voice was refused (its line says what to do)."""
    states: dict[str, int] = {}
    for outcome in outcomes:
        states[outcome.state] = states.get(outcome.state, 0) + 1
    click.echo(", ".join(f"{count} {state}" for state, count in states.items()) or "no voice to draft")
    if states.get("refused"):
        sys.exit(ExitCode.INVALID_INPUT)


@subtitles.command("transcribe")
@click.option("--model", "model_name", default=None, metavar="NAME",
              help="A Whisper model of racines models [default: whisper-large-v3-turbo].")
@_draft_options
@click.pass_obj
def subtitles_transcribe(ctx: Context, model_name: str | None, device: str, voices: tuple[str, ...], redo: bool) -> None:
    """Draft what each consented voice says with Whisper, offline, in the voice's language: a machine draft
    beside the recording (sound/NAME.LANG.vtt) for a person to review. Typed or reviewed transcripts are kept."""
    from racines.subtitles.transcribe import DEFAULT_MODEL, transcribe_film

    film = ctx.film("draft")
    _draft_summary(transcribe_film(film, model_name or DEFAULT_MODEL, device, voices, redo, on_outcome=_draft_outcome))


@subtitles.command("translate")
@click.option("--language", "languages", multiple=True, metavar="L",
              help="Translate into this language (repeatable); default: film.yaml's subtitles.languages.")
@click.option("--model", "model_name", default=None, metavar="NAME",
              help="A translation model of racines models [default: opus-mt-SRC-TGT where models.yaml names one, "
                   "else m2m100-418m].")
@_draft_options
@click.pass_obj
def subtitles_translate(ctx: Context, languages: tuple[str, ...], model_name: str | None, device: str,
                        voices: tuple[str, ...], redo: bool) -> None:
    """Draft each voice's transcript in the other subtitle languages, phrase by phrase with the phrases' times,
    offline: machine drafts (Translated-From: its language) for a person to review. Typed or reviewed ones are kept."""
    from racines.subtitles.translate import translate_film

    film = ctx.film("draft")
    _draft_summary(translate_film(film, languages, model_name, device, voices, redo, on_outcome=_draft_outcome))


@main.command()
@click.argument("words", nargs=-1, required=True, metavar="NAME | stamp NAME LORA")
@click.option("--beside", is_flag=True, help="stamp: write LORA.dataset.json beside the LoRA instead of into its header.")
@click.pass_obj
def dataset(ctx: Context, words: tuple[str, ...], beside: bool) -> None:
    """Prepare the training set datasets/NAME.yaml declares from the photographs with consent granted
    (renders/datasets/NAME/), or stamp its manifest into a trained LoRA: racines dataset stamp NAME LORA."""
    from racines.training import dataset as training
    from racines.training import lora_manifest

    film = ctx.film()
    if words[0] == "stamp":
        if len(words) != 3:
            raise UsageError("racines dataset stamp NAME LORA: give the dataset's name and the LoRA file")
        manifest = training.read_manifest(film, words[1])
        lora = _project_file(film.root, words[2], ".safetensors")
        if beside:
            from racines.core.atomic import write_json

            write_json(lora_manifest.beside(lora), manifest)
            click.echo(f"dataset '{words[1]}' written beside {lora.name}: {lora_manifest.beside(lora).name}")
        else:
            identity = lora_manifest.stamp(lora, manifest, words[1])
            click.echo(f"dataset '{words[1]}' ({len(manifest['images'])} images, sha256 {manifest['sha256'][:16]}) "
                       f"stamped into {lora.name}; tensors unchanged (sha256 {identity[:16]})")
        people = [str(i.get("contributor", "")) for i in manifest["images"]]
        for leak in lora_manifest.leaks(lora_manifest.metadata(lora), people):
            click.echo(f"note: the trainer's metadata {leak}: every copy of the LoRA shows it")
        return
    if len(words) != 1:
        raise UsageError("racines dataset NAME: one dataset name (or: racines dataset stamp NAME LORA)")
    prepared = training.prepare(film, words[0])
    images = prepared.manifest["images"]
    people = dict.fromkeys(i["credit"] for i in images)
    click.echo(f"dataset '{words[0]}': {len(images)} images in {prepared.manifest['folder']}/ from {len(people)} "
               f"contributor{'s' if len(people) != 1 else ''}, manifest sha256 {prepared.manifest['sha256'][:16]} -> "
               f"{prepared.folder.relative_to(film.root.resolve()).as_posix()}/")
    for item in prepared.left_out:
        click.echo(f"left out {item.source}: consent is '{item.consent}' for {item.contributor}")


def _project_file(root: Path, text: str, suffix: str) -> Path:
    """A file named on the command line (from the current folder, else from the project's), which
    must lie inside the project."""
    path = (Path.cwd() / text).resolve()
    if not path.exists():
        path = (root / text).resolve()
    if not path.is_relative_to(root.resolve()) or not path.is_file() or path.suffix != suffix:
        raise UsageError(f"{text}: not a {suffix} file inside the project {root}\n"
                         f"    fix: copy it into the project (e.g. loras/) and give its path")
    return path


@main.command()
@click.argument("which", type=click.Choice(["shot", "film", "sound", "models"]), default="shot")
def schema(which: str) -> None:
    """Print the JSON Schema of shot files (default), of shots/film.yaml, shots/sound.yaml or models.yaml."""
    from racines.generators.registry import shot_file_schema

    document = shot_file_schema() if which == "shot" else \
        {"film": FilmSettings, "sound": SoundFile, "models": ModelsFile}[which].model_json_schema()
    document["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    document["title"] = {"shot": "racines shot file", "film": "racines film settings",
                         "sound": "racines sound", "models": "racines models.yaml"}[which]
    click.echo(json.dumps(document, indent=2))


if __name__ == "__main__":
    main()
