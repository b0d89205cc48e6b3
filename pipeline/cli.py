"""The ``muscle-assets`` command: a thin click layer over :func:`pipeline.build.build`.

This is the only place that prints or picks exit codes: 0 when everything asked
for is done and valid, 1 when a set failed or ``check`` found a problem, 2 for a
bad invocation (unknown option or set id, invalid config). Each command offers only
the options it uses, so click rejects the others. Paths are shown relative to the
working folder when they are inside it.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import shlex
import signal
import sys
import threading
import traceback
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import click
from tqdm import tqdm

from pipeline import __version__
from pipeline.build import BuildReport, SetResult, build, find_sets
from pipeline.config import (
    DEFAULT_CONFIG,
    SITE_CONFIG,
    Config,
    default_config_path,
    load_config,
)
from pipeline.errors import ConfigError, PipelineError, UnknownSetError
from pipeline.jsonreport import report_json
from pipeline.plan import SetPlan
from pipeline.runner import SetProgress
from pipeline.site import pages as pages_step
from pipeline.site.weight import result_weight
from pipeline.state import cleanup
from pipeline.state.lock import HeldLock, exclusive_build
from pipeline.state.outputs import human_size

EXIT_FAILED = 1
EXIT_USAGE = 2
# What a shell reports for a tool that SIGPIPE ended (128 + 13): a reader such as
# ``head`` closed the pipe, which is not a failure of the command.
EXIT_BROKEN_PIPE = 141

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class Options:
    """The common options as given; those a command does not offer keep these defaults."""

    config: Path | None = None
    jobs: int | None = None
    output: Path | None = None
    site: Path | None = None
    force: bool = False
    dry_run: bool = False
    verbosity: int = 0  # -1 quiet, 0 normal, 1 verbose
    json: bool = False  # the report as JSON on stdout, and no other text there

    @property
    def talks(self) -> bool:
        """Whether human-readable lines go to stdout (not with -q or --json)."""
        return self.verbosity >= 0 and not self.json

    def load(self, **overrides: Any) -> Config:
        """The config file with these options on top (and ``overrides``, dotted
        keys, from a command's own options)."""
        path = self.config if self.config is not None else default_config_path()
        return load_config(
            path,
            **{"build.jobs": self.jobs, "paths.output": self.output, "paths.site": self.site},
            **overrides,
        )


wait_option = click.option(
    "--wait", is_flag=True, help="Wait for another build of the same output root."
)


_OPTIONS: dict[str, Callable[[Callable[..., Any]], Callable[..., Any]]] = {
    "config": click.option(
        "--config",
        "config",
        type=click.Path(path_type=Path, dir_okay=False),
        help=f"YAML config file [default: {DEFAULT_CONFIG} or {SITE_CONFIG}, if present].",
    ),
    "jobs": click.option(
        "--jobs",
        "-j",
        type=click.IntRange(min=1),
        help="Worker processes [default: one per core, fewer if memory is short].",
    ),
    "output": click.option(
        "--output",
        type=click.Path(path_type=Path, file_okay=False),
        help="Output root (overrides paths.output).",
    ),
    "site": click.option(
        "--site",
        type=click.Path(path_type=Path, file_okay=False),
        help="Jekyll site root (overrides paths.site).",
    ),
    "force": click.option(
        "--force", is_flag=True, help="Rebuild outputs even when they are up to date."
    ),
    "dry_run": click.option(
        "--dry-run", "-n", is_flag=True, help="Show what would be written; write nothing."
    ),
    "quiet": click.option("--quiet", "-q", is_flag=True, help="Print errors only."),
    "verbose": click.option(
        "--verbose", "-v", is_flag=True, help="Print every set and file, and tracebacks."
    ),
    "json": click.option(
        "--json",
        "json_report",
        is_flag=True,
        help="Print the report as JSON on stdout (see docs/cli.md).",
    ),
}
_PARAMS = {"json": "json_report"}  # option name -> click parameter name, where they differ


def command_options(*names: str) -> Callable[[F], F]:
    """The common options a command uses (every one when none are named), collected
    into one :class:`Options`; an option a command would ignore is not offered, so
    click rejects it as a usage error instead of accepting it silently."""
    chosen = names or tuple(_OPTIONS)

    def decorate(func: F) -> F:
        @functools.wraps(func)
        def wrapper(**kwargs: Any) -> Any:
            given = {name: kwargs.pop(_PARAMS.get(name, name)) for name in chosen}
            quiet, verbose = given.pop("quiet", False), given.pop("verbose", False)
            opts = Options(**given, verbosity=-1 if quiet else int(verbose))
            return _reporting_errors(func, opts, verbose, kwargs)

        command: Callable[..., Any] = wrapper
        for name in reversed(chosen):
            command = _OPTIONS[name](command)
        return command  # type: ignore[return-value]

    return decorate


common_options = command_options()


def _reporting_errors(
    func: Callable[..., Any], opts: Options, verbose: bool, kwargs: dict[str, Any]
) -> Any:
    """Run a command, turning what it raises into messages and exit codes."""
    try:
        with _sigterm_as_interrupt():
            return func(opts, **kwargs)
    except (ConfigError, UnknownSetError) as exc:
        _echo_err(_relative(str(exc)))
        sys.exit(EXIT_USAGE)
    except PipelineError as exc:
        _echo_err(_relative(str(exc)))
        sys.exit(EXIT_FAILED)
    except click.ClickException:
        raise
    except BrokenPipeError:
        _drop_stdout()
        sys.exit(EXIT_BROKEN_PIPE)
    except Exception as exc:  # a bug or an unforeseen fault: one line, details with -v
        detail = " ".join(str(exc).split())
        _echo_err(f"muscle-assets: unexpected error: {type(exc).__name__}: {detail}")
        if verbose:
            _echo_err(traceback.format_exc())
        sys.exit(EXIT_FAILED)


def _drop_stdout() -> None:
    """Point stdout at /dev/null once its reader is gone, so that Python's flush at
    exit does not raise (and print) a second BrokenPipeError."""
    with contextlib.suppress(OSError, ValueError, AttributeError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="muscle-assets")
def main() -> None:
    """Build a muscle atlas's images from orientation sets of 16 PNG frames.

    Reads <SetId>-<k>.png from the raw folder and writes gallery PNGs, thumbnails
    and web variants under the output root, in the site's naming.
    """


@main.command("list")
@command_options("config", "jobs", "output", "site", "json")
def list_cmd(opts: Options) -> None:
    """List the sets found, their frame counts, status and page weight."""
    cfg = opts.load()
    sets = {s.set_id: s for s in find_sets(cfg)}
    report = build(cfg, dry_run=True)
    if opts.json:
        counts = {set_id: len(s.frames) for set_id, s in sets.items()}
        _echo_json(report_json(cfg, "list", report, dry_run=True, ok=True, frames=counts))
        return
    statuses = [_list_status(result) for result in report.results]
    width = max((len(s) for s in sets), default=6)
    status_width = max((len(s) for s in statuses), default=6)
    click.echo(f"{'set':<{width}}  frames  {'status':<{status_width}}  page weight")
    for result, status in zip(report.results, statuses, strict=True):
        frames = len(sets[result.set_id].frames)
        weight = _weight_text(cfg, result)
        click.echo(f"{result.set_id:<{width}}  {frames:>6}  {status:<{status_width}}  {weight}")
    click.echo(f"{len(sets)} set(s) in {_relative(str(cfg.paths.raw))}")


def _list_status(result: SetResult) -> str:
    if result.status == "failed":
        problems = len(result.defects) or 1
        return f"invalid ({problems} problem{'s' if problems > 1 else ''})"
    if result.status == "stale":
        return f"needs build ({len(result.stale)} outputs)"
    return "up to date"


def _weight_text(cfg: Config, result: SetResult) -> str:
    """A view's weight, ``-`` while a file it counts is not built; flagged when over
    the budget."""
    weight = result_weight(result)
    if weight is None or weight.missing:
        return "-"
    budget = cfg.pages.budget_kib
    over = f" (over {budget} KiB)" if weight.over(budget) else ""
    return f"{human_size(weight.bytes)}{over}"


@main.command()
@click.argument("set_ids", nargs=-1, metavar="[SET]...")
@click.option("--inputs-only", is_flag=True, help="Validate sources only; ignore stale outputs.")
@click.option(
    "--accept-versions",
    is_flag=True,
    help="Count outputs that differ only by encoder versions (Pillow, ffmpeg) as current.",
)
@command_options("config", "jobs", "output", "site", "quiet", "verbose", "json")
def check(opts: Options, set_ids: Sequence[str], inputs_only: bool, accept_versions: bool) -> None:
    """Validate sets; report stale outputs, stale pages and pages over the weight
    budget (pages.budget_kib); exit 1 on any problem (a CI gate)."""
    cfg = opts.load()
    report = build(cfg, set_ids, dry_run=True, accept_versions=accept_versions)
    problems = _print_failures(report, opts)
    stale = 0
    to_build = {r.set_id for r in report.results if r.stale} if not inputs_only else set()
    pages: list[pages_step.PageResult] | None = None
    if not inputs_only:
        for result in report.results:
            for output in result.stale:
                path = cfg.paths.output_root / output.relpath
                reason = _stale_reason(path, result.other_versions.get(str(output.relpath)))
                _echo_err(f"{_relative(str(path))}: {reason}")
                stale += 1
        if pages_step.enabled(cfg):
            pages = pages_step.update_pages(cfg, _plans(report), dry_run=True)
            for page in pages:
                if page.status == "failed":
                    _echo_err(_relative(page.message or str(page.path)))
                    problems += 1
                elif page.changed:
                    missing = " (missing)" if page.status == "created" else ""
                    _echo_err(f"{_relative(str(page.path))}: stale{missing}")
                    to_build.add(page.set_id)
                    stale += 1
        for line in _budget_lines(cfg, report.results):
            _echo_err(line)
            problems += 1
    ok = not problems and not stale
    if opts.json:
        _echo_json(report_json(cfg, "check", report, dry_run=True, ok=ok, pages=pages))
    elif opts.verbosity >= 0:
        valid = sum(1 for r in report.results if r.ok)
        click.echo(
            f"checked {len(report.results)} set(s): {valid} valid, {len(report.failed)} invalid"
            + ("" if inputs_only else f", {stale} stale output(s) or page(s)")
        )
    # the next step, last on stdout: stderr keeps to one `<file>: <problem>` a line
    if to_build and opts.talks:
        named = [] if len(to_build) == len(report.results) and not set_ids else sorted(to_build)
        click.echo(f"run: {_command_line(opts, 'build', named)}")
    elif report.failed and opts.talks:
        click.echo(f"fix the files above, then run: {_command_line(opts, 'check', set_ids)}")
    if not ok:
        sys.exit(EXIT_FAILED)


_LIBRARIES = {"pillow": "Pillow"}


def _stale_reason(path: Path, other_versions: Sequence[tuple[str, Any, Any]] | None) -> str:
    """Why ``check`` calls an output stale: what to do differs (build, or accept)."""
    if other_versions:
        differ = ", ".join(
            f"{_LIBRARIES.get(name, name)} {here} here, {recorded} recorded"
            for name, here, recorded in other_versions
        )
        return f"built with other encoder versions ({differ}); --accept-versions accepts it"
    if not path.exists():
        return "missing"
    return "stale: its sources or config changed"


def _budget_lines(cfg: Config, results: Iterable[SetResult]) -> list[str]:
    """One line per page over ``pages.budget_kib``: the page, its weight, its
    biggest files."""
    budget = cfg.pages.budget_kib
    lines = []
    for result in results:
        weight = result_weight(result)
        if weight is None or not weight.over(budget):
            continue
        lines.append(
            f"{_page_name(cfg, result.set_id)}: page weighs {human_size(weight.bytes)} a view, "
            f"over pages.budget_kib ({budget} KiB); biggest: {weight.describe_biggest()}"
        )
    return lines


def _page_name(cfg: Config, set_id: str) -> str:
    """The page file when pages are configured, else the set id that names it."""
    if not pages_step.enabled(cfg):
        return set_id
    return _relative(str(pages_step.page_path(cfg, set_id)))


def _command_line(opts: Options, command: str, set_ids: Iterable[str]) -> str:
    """The command to run next, with the options that chose this config and
    output, as the user can paste it."""
    words = ["muscle-assets", command]
    for flag, value in (
        ("--config", opts.config),
        ("--output", opts.output),
        ("--site", opts.site),
    ):
        if value is not None:
            words += [flag, str(value)]
    return shlex.join([*words, *set_ids])


@main.command()
@click.option(
    "--embed", is_flag=True, help="Inline thumbnails and animation as data: URIs (one file)."
)
@command_options("config", "jobs", "output", "site", "quiet", "verbose")
def preview(opts: Options, embed: bool) -> None:
    """Write a contact sheet of every set to <output root>/preview/index.html."""
    from pipeline.site.preview import warning_count, write_preview

    cfg = opts.load()
    report = build(cfg, dry_run=True)
    path = write_preview(cfg, report, embed=embed)
    if opts.verbosity >= 0:
        warnings = sum(warning_count(r) for r in report.results)
        click.echo(
            f"wrote {_relative(str(path))}: {len(report.results)} set(s), {warnings} warning(s)"
        )


@main.command("init")
@click.argument("site", default=".", type=click.Path(path_type=Path, file_okay=False))
@click.option("--force", is_flag=True, help="Replace files the site changed.")
def init_cmd(site: Path, force: bool) -> None:
    """Set up a Jekyll site: config, page template, includes, viewer script, .gitignore."""
    from pipeline.site.init import init_site

    try:
        report = init_site(site, force=force)
    except PipelineError as exc:
        click.echo(str(exc), err=True)
        sys.exit(EXIT_FAILED)
    for step in report.steps:
        click.echo(step.describe())
    click.echo("next steps:")
    for number, text in enumerate(report.next_steps(), 1):
        click.echo(f"  {number}. {text}")


def _stage_command(name: str, stages: Sequence[str] | None, help_text: str) -> None:
    @main.command(name, help=help_text)
    @click.argument("set_ids", nargs=-1, metavar="[SET]...")
    @wait_option
    @click.option(
        "--prune",
        is_flag=True,
        help="Also remove outputs of sets no longer in the raw folder, and outputs "
        "the plan no longer makes (recorded in the manifest only).",
    )
    @click.option(
        "--scheduler",
        metavar="ADDRESS",
        help="Render the sets on this Dask scheduler, e.g. tcp://host:8786 "
        "(overrides build.scheduler; needs muscle-assets[dask]).",
    )
    @common_options
    def command(
        opts: Options, set_ids: Sequence[str], wait: bool, prune: bool, scheduler: str | None
    ) -> None:
        cfg = opts.load(**{"build.scheduler": scheduler})
        with _writer(cfg, opts, wait) as held:
            lock_fd = held.fd if held is not None else None
            report = _run_with_progress(cfg, set_ids, stages, opts, prune=prune, lock_fd=lock_fd)
        if report.pages is not None:
            _print_pages(report.pages, opts)
        elif stages is None and opts.talks:
            click.echo("pages: skipped (paths.pages and paths.site are not set)")
        if opts.json:
            _echo_json(
                report_json(
                    cfg, name, report, dry_run=opts.dry_run, ok=report.ok, pages=report.pages
                )
            )
        if not report.ok:
            sys.exit(EXIT_FAILED)


_stage_command("build", None, "Run every stage for the named sets (all sets when none are named).")
_stage_command(
    "thumbs",
    ("thumbs",),
    "Make thumbnails (<SetId>-<k>-thumb.png, and their WebP/AVIF copies) for the named sets.",
)
_stage_command(
    "variants",
    ("variants",),
    "Make the full-size gallery PNGs and their WebP/AVIF variants for the named sets.",
)
_stage_command(
    "animate",
    ("animate",),
    "Make the rotating image (<SetId>.gif, .webm, .mp4) for the named sets.",
)


@main.command("pages")
@click.argument("set_ids", nargs=-1, metavar="[SET]...")
@wait_option
@command_options("config", "jobs", "output", "site", "dry_run", "quiet", "verbose")
def pages_cmd(opts: Options, set_ids: Sequence[str], wait: bool) -> None:
    """Write each set's gallery front matter into its page (creating missing pages).

    Only the images: and gallery: keys change; text people wrote is kept. With
    --dry-run, print a unified diff per page instead.
    """
    cfg = opts.load()
    if not pages_step.enabled(cfg):
        raise ConfigError("config", ["paths.pages: not set (set paths.pages or paths.site)"])
    with _writer(cfg, opts, wait):
        report = build(cfg, set_ids, dry_run=True)
        _print_failures(report, opts)
        pages = pages_step.update_pages(cfg, _plans(report), dry_run=opts.dry_run)
    _print_pages(pages, opts)
    if not report.ok or any(p.status == "failed" for p in pages):
        sys.exit(EXIT_FAILED)


def _plans(report: BuildReport) -> list[SetPlan]:
    """The plans of the sets that planned without a problem (whose pages may change)."""
    return [r.plan for r in report.results if r.ok]


def _print_pages(results: list[pages_step.PageResult], opts: Options) -> None:
    """What the pages step changed (or, in a dry run, would change)."""
    counts = dict.fromkeys(("created", "updated", "unchanged", "failed"), 0)
    for page in results:
        counts[page.status] += 1
        if page.status == "failed":
            _echo_err(_relative(page.message or str(page.path)))
        elif opts.json:
            continue
        elif opts.dry_run and page.diff:
            click.echo(page.diff, nl=False)
        elif opts.verbosity >= 1:
            click.echo(f"{_relative(str(page.path))}: {page.status}")
    if opts.talks:
        verb = "would be " if opts.dry_run else ""
        click.echo(
            f"pages: {counts['created']} {verb}created, {counts['updated']} {verb}updated, "
            f"{counts['unchanged']} unchanged, {counts['failed']} failed"
        )


def _writer(
    cfg: Config, opts: Options, wait: bool, *, remove_lock: bool = False
) -> contextlib.AbstractContextManager[HeldLock | None]:
    """The output root's lock for a command that writes; dry runs need none."""
    if opts.dry_run:
        return contextlib.nullcontext()
    quiet = opts.verbosity < 0
    return exclusive_build(
        cfg, wait=wait, on_wait=None if quiet else _echo_err, remove_lock=remove_lock
    )


@main.command()
@wait_option
@command_options("config", "output", "site", "dry_run", "quiet", "verbose")
def clean(opts: Options, wait: bool) -> None:
    """Remove every output the manifest records, then the manifest, and the preview
    page this tool wrote; nothing else."""
    from pipeline.site.preview import remove_preview

    cfg = opts.load()
    out_root = cfg.paths.output_root
    with _writer(cfg, opts, wait, remove_lock=True):
        report = cleanup.clean(out_root, dry_run=opts.dry_run)
        preview_page = remove_preview(cfg, dry_run=opts.dry_run)
    for relpath in report.kept:
        changed = "not removed: not the file the build wrote (changed or replaced since)"
        _echo_err(f"{_relative(str(out_root / relpath))}: {changed}")
    verb = "would remove" if opts.dry_run else "removed"
    if opts.verbosity >= 1 or opts.dry_run:
        for relpath in report.removed:
            click.echo(f"{verb} {_relative(str(out_root / relpath))}")
        if preview_page is not None:
            click.echo(f"{verb} {_relative(str(preview_page))}")
    if opts.verbosity >= 0:
        manifest = " and the manifest" if report.manifest_removed else ""
        page = " and the preview" if preview_page is not None else ""
        click.echo(
            f"{verb} {len(report.removed)} file(s){manifest}{page} from {_relative(str(out_root))}"
        )


class _ProgressBar:
    """The build's progress on stderr, output by output: outputs written out of
    those planned. A set's plan arrives when a worker starts it; sets not started
    yet count as many outputs as the started ones do on average. The label names
    the sets being built, not the last one finished."""

    def __init__(self, pending: int) -> None:
        self.pending = pending
        self.sets: dict[str, tuple[int, int]] = {}  # set id -> (done, total)
        self.finished: set[str] = set()
        self.bar: tqdm[Any] = tqdm(
            total=None, unit="file", desc="building", file=sys.stderr, leave=False, mininterval=0
        )

    def progress(self, event: SetProgress) -> None:
        self.sets[event.set_id] = (event.done, event.total)
        self._show()

    def finish(self, result: SetResult) -> None:
        self.finished.add(result.set_id)
        _, total = self.sets.get(result.set_id, (0, 0))
        self.sets[result.set_id] = (total, total)  # a failed set has no more to do
        self._show()

    def _show(self) -> None:
        totals = [total for _, total in self.sets.values()]
        planned = [total for total in totals if total]  # not sets that failed unplanned
        unknown = max(0, self.pending - len(self.sets))
        average = sum(planned) / len(planned) if planned else 0
        self.bar.total = sum(totals) + round(unknown * average)
        building = [s for s in self.sets if s not in self.finished]
        shown = ", ".join(building[:3]) + (f" +{len(building) - 3}" if len(building) > 3 else "")
        self.bar.set_postfix_str(shown, refresh=False)
        newly_done = sum(done for done, _ in self.sets.values()) - self.bar.n
        if newly_done:
            self.bar.update(newly_done)
        else:
            self.bar.refresh()

    def write(self, text: str) -> None:
        self.bar.write(text)

    def close(self) -> None:
        self.bar.close()


def _run_with_progress(
    cfg: Config,
    set_ids: Sequence[str],
    stages: Sequence[str] | None,
    opts: Options,
    *,
    prune: bool = False,
    lock_fd: int | None = None,
) -> BuildReport:
    bar: _ProgressBar | None = None
    # no bar in logs: unattended builds get only result lines on stderr
    show_bar = opts.verbosity >= 0 and not opts.dry_run and sys.stderr.isatty()

    def on_plan(pending: int) -> None:
        nonlocal bar
        if show_bar and pending:
            bar = _ProgressBar(pending)

    def on_progress(event: SetProgress) -> None:
        if bar is not None:
            bar.progress(event)

    finished: list[SetResult] = []

    def on_result(result: SetResult) -> None:
        finished.append(result)
        if bar is not None:  # only sets that needed a worker arrive after on_plan
            bar.finish(result)
        if opts.verbosity >= 1 and not opts.json:
            _echo(f"{result.set_id}: {result.status} ({result.seconds:.2f} s)", bar)
            for written in result.written:
                _echo(
                    f"  wrote {written.relpath} {written.width}x{written.height} "
                    f"{human_size(written.bytes)}",
                    bar,
                )

    try:
        report = build(
            cfg,
            set_ids,
            stages=stages,
            force=opts.force,
            dry_run=opts.dry_run,
            prune=prune,
            pages=stages is None and pages_step.enabled(cfg),
            on_result=on_result,
            on_plan=on_plan,
            on_progress=on_progress if show_bar else None,
            lock_fd=lock_fd,
        )
    except PipelineError:
        # a fault that stops the build (say, no space for the manifest) must not
        # hide what already failed: print those first, then the fault itself
        _print_failures(BuildReport(finished, 0.0), opts)
        raise
    finally:
        if bar is not None:
            bar.close()
    _print_failures(report, opts)
    if not opts.dry_run:
        for line in _budget_lines(cfg, report.results):
            _echo_err(f"warning: {line}")
    if not opts.json:
        _print_plan(cfg, report, opts)
    return report


def _print_plan(cfg: Config, report: BuildReport, opts: Options) -> None:
    """What a dry run would write, what was pruned, and the summary."""
    if opts.dry_run:
        for result in report.results:
            for output in result.stale:
                click.echo(f"would write {output.relpath} ({output.width}x{output.height})")
    if opts.verbosity >= 1 or opts.dry_run:
        verb = "would remove" if opts.dry_run else "removed"
        for relpath in report.removed:
            click.echo(f"{verb} {relpath}")
    if opts.verbosity >= 0:
        click.echo(_summary(report, opts.dry_run))
        weights = None if opts.dry_run else _weight_summary(cfg, report.results)
        if weights:
            click.echo(weights)


def _print_failures(report: BuildReport, opts: Options) -> int:
    count = 0
    for result in report.failed:
        for defect in result.defects:
            _echo_err(_relative(str(defect)))
            count += 1
        if result.error:
            _echo_err(_relative(result.error))
            count += 1
        if result.detail and opts.verbosity >= 1:
            _echo_err(result.detail)
    return count


def _summary(report: BuildReport, dry_run: bool) -> str:
    if dry_run:
        stale = sum(len(r.stale) for r in report.results)
        return (
            f"dry run: {report.count('stale')} set(s) would be built, "
            f"{report.count('up-to-date')} up to date, {len(report.failed)} failed; "
            f"{stale} file(s) would be written"
        )
    pruned = f", {len(report.removed)} pruned" if report.removed else ""
    return (
        f"{report.count('built')} set(s) built, {report.count('up-to-date')} up to date, "
        f"{len(report.failed)} failed; {report.files_written} file(s) written{pruned}, "
        f"{human_size(report.bytes_written)} in {report.seconds:.1f} s"
    )


def _weight_summary(cfg: Config, results: Iterable[SetResult]) -> str | None:
    """One line on what the built pages weigh (see :mod:`pipeline.site.weight`)."""
    weights = [w for r in results if (w := result_weight(r)) is not None and not w.missing]
    if not weights:
        return None
    lightest = min(weights, key=lambda w: w.bytes)
    heaviest = max(weights, key=lambda w: w.bytes)
    span = human_size(heaviest.bytes)
    if len(weights) > 1:
        span = f"{human_size(lightest.bytes)} to {span}"
    clicks = max(w.click_bytes for w in weights)
    text = (
        f"page weight: {span} a view (heaviest {heaviest.set_id}); "
        f"clicking every thumbnail adds at most {human_size(clicks)} of full-size PNGs"
    )
    budget = cfg.pages.budget_kib
    if budget is not None:
        over = sum(1 for w in weights if w.over(budget))
        text += f"; {over} page(s) over pages.budget_kib ({budget} KiB)"
    return text


def _relative(text: str) -> str:
    """``text`` with a leading path inside the working folder made relative to it:
    every message starts with the file it is about."""
    try:
        here = str(Path.cwd()) + os.sep
    except OSError:  # the working folder was removed
        return text
    return "\n".join(
        line[len(here) :] if line.startswith(here) else line for line in text.split("\n")
    )


def _echo_json(data: dict[str, Any]) -> None:
    click.echo(json.dumps(data, indent=2))


@contextlib.contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM (``kill``, a service manager stopping the build) stops a command as
    Ctrl-C does: finished sets are recorded, the workers stop, temporary files go,
    and the exit code is the same. Only the main thread may set handlers (an
    embedding caller's thread keeps the default)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum: int, _frame: object) -> None:
        click.echo(f"muscle-assets: stopped by {signal.Signals(signum).name}", err=True)
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _echo_err(text: str) -> None:
    click.echo(text, err=True)


def _echo(text: str, bar: _ProgressBar | None) -> None:
    if bar is not None:
        bar.write(text)
    else:
        click.echo(text)
