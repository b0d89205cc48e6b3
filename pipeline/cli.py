"""The ``muscle-assets`` command: a thin click layer over :mod:`pipeline.runner`.

This is the only place that prints or picks exit codes: 0 when everything asked
for is done and valid, 1 when a set failed or ``check`` found a problem, 2 for a
bad invocation (unknown option or set id, invalid config).
"""

from __future__ import annotations

import contextlib
import functools
import sys
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import click
from tqdm import tqdm

from pipeline import __version__, cleanup
from pipeline import pages as pages_step
from pipeline.config import DEFAULT_CONFIG, Config, load_config
from pipeline.errors import ConfigError, PipelineError, UnknownSetError
from pipeline.lock import exclusive_build
from pipeline.outputs import human_size
from pipeline.runner import BuildReport, SetResult, find_sets, run

EXIT_FAILED = 1
EXIT_USAGE = 2

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class Options:
    config: Path | None
    jobs: int | None
    output: Path | None
    site: Path | None
    force: bool
    dry_run: bool
    verbosity: int  # -1 quiet, 0 normal, 1 verbose

    def load(self, **overrides: Any) -> Config:
        """The config file with these options on top (and ``overrides``, dotted
        keys, from a command's own options)."""
        path = self.config
        if path is None and DEFAULT_CONFIG.is_file():
            path = DEFAULT_CONFIG
        return load_config(
            path,
            **{"build.jobs": self.jobs, "paths.output": self.output, "paths.site": self.site},
            **overrides,
        )


wait_option = click.option(
    "--wait", is_flag=True, help="Wait for another build of the same output root."
)


def common_options(func: F) -> F:
    """Options every command takes, collected into one :class:`Options`."""

    @click.option(
        "--config",
        "config",
        type=click.Path(path_type=Path, dir_okay=False),
        help=f"YAML config file [default: {DEFAULT_CONFIG} if present].",
    )
    @click.option(
        "--jobs", "-j", type=click.IntRange(min=1), help="Worker processes [default: all cores]."
    )
    @click.option(
        "--output",
        type=click.Path(path_type=Path, file_okay=False),
        help="Output root (overrides paths.output).",
    )
    @click.option(
        "--site",
        type=click.Path(path_type=Path, file_okay=False),
        help="Jekyll site root (overrides paths.site).",
    )
    @click.option("--force", is_flag=True, help="Rebuild outputs even when they are up to date.")
    @click.option(
        "--dry-run", "-n", is_flag=True, help="Show what would be written; write nothing."
    )
    @click.option("--quiet", "-q", is_flag=True, help="Print errors only.")
    @click.option("--verbose", "-v", is_flag=True, help="Print every set and file, and tracebacks.")
    @functools.wraps(func)
    def wrapper(
        config: Path | None,
        jobs: int | None,
        output: Path | None,
        site: Path | None,
        force: bool,
        dry_run: bool,
        quiet: bool,
        verbose: bool,
        **kwargs: Any,
    ) -> Any:
        opts = Options(config, jobs, output, site, force, dry_run, -1 if quiet else int(verbose))
        try:
            return func(opts, **kwargs)
        except (ConfigError, UnknownSetError) as exc:
            click.echo(str(exc), err=True)
            sys.exit(EXIT_USAGE)
        except PipelineError as exc:
            click.echo(str(exc), err=True)
            sys.exit(EXIT_FAILED)
        except click.ClickException:
            raise
        except Exception as exc:  # a bug or an unforeseen fault: one line, details with -v
            detail = " ".join(str(exc).split())
            click.echo(f"muscle-assets: unexpected error: {type(exc).__name__}: {detail}", err=True)
            if verbose:
                click.echo(traceback.format_exc(), err=True)
            sys.exit(EXIT_FAILED)

    return wrapper  # type: ignore[return-value]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="muscle-assets")
def main() -> None:
    """Build a muscle atlas's images from orientation sets of 16 PNG frames.

    Reads <SetId>-<k>.png from the raw folder and writes gallery PNGs, thumbnails
    and web variants under the output root, in the site's naming.
    """


@main.command("list")
@common_options
def list_cmd(opts: Options) -> None:
    """List the sets found, their frame counts and status."""
    cfg = opts.load()
    sets = {s.set_id: s for s in find_sets(cfg)}
    report = run(cfg, dry_run=True, jobs=cfg.jobs)
    width = max((len(s) for s in sets), default=6)
    click.echo(f"{'set':<{width}}  frames  status")
    for result in report.results:
        source = sets[result.set_id]
        if result.status == "failed":
            problems = len(result.defects) or 1
            status = f"invalid ({problems} problem{'s' if problems > 1 else ''})"
        elif result.status == "stale":
            status = f"needs build ({len(result.stale)} outputs)"
        else:
            status = "up to date"
        click.echo(f"{result.set_id:<{width}}  {len(source.frames):>6}  {status}")
    click.echo(f"{len(sets)} set(s) in {cfg.paths.raw}")


@main.command()
@click.argument("set_ids", nargs=-1, metavar="[SET]...")
@click.option("--inputs-only", is_flag=True, help="Validate sources only; ignore stale outputs.")
@common_options
def check(opts: Options, set_ids: Sequence[str], inputs_only: bool) -> None:
    """Validate sets, report stale outputs and pages; exit 1 on any problem (a CI gate)."""
    cfg = opts.load()
    report = run(cfg, set_ids, dry_run=True, jobs=cfg.jobs)
    problems = _print_failures(report, opts)
    stale = 0 if inputs_only else sum(len(r.stale) for r in report.results)
    if not inputs_only:
        for result in report.results:
            for spec in result.stale:
                click.echo(f"{cfg.paths.output_root / spec.relpath}: stale or missing", err=True)
        if pages_step.enabled(cfg):
            for page in pages_step.update_pages(cfg, report.results, dry_run=True):
                if page.status == "failed":
                    click.echo(page.message, err=True)
                    problems += 1
                elif page.changed:
                    missing = " (missing)" if page.status == "created" else ""
                    click.echo(f"{page.path}: stale{missing}", err=True)
                    stale += 1
    if opts.verbosity >= 0:
        valid = sum(1 for r in report.results if r.ok)
        click.echo(
            f"checked {len(report.results)} set(s): {valid} valid, {len(report.failed)} invalid"
            + ("" if inputs_only else f", {stale} stale output(s) or page(s)")
        )
    if problems or stale:
        sys.exit(EXIT_FAILED)


@main.command()
@click.option(
    "--embed", is_flag=True, help="Inline thumbnails and animation as data: URIs (one file)."
)
@common_options
def preview(opts: Options, embed: bool) -> None:
    """Write a contact sheet of every set to <output root>/preview/index.html."""
    from pipeline.preview import warning_count, write_preview

    cfg = opts.load()
    report = run(cfg, dry_run=True, jobs=cfg.jobs)
    path = write_preview(cfg, report, embed=embed)
    if opts.verbosity >= 0:
        warnings = sum(warning_count(r) for r in report.results)
        click.echo(f"wrote {path}: {len(report.results)} set(s), {warnings} warning(s)")


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
        with _writer(cfg, opts, wait):
            report = _run_with_progress(cfg, set_ids, stages, opts, prune=prune)
            pages_ok = True
            if stages is None and pages_step.enabled(cfg):
                pages_ok = _update_pages(cfg, report, opts)
        if not report.ok or not pages_ok:
            sys.exit(EXIT_FAILED)


_stage_command("build", None, "Run every stage for the named sets (all sets when none are named).")
_stage_command("thumbs", ("thumbs",), "Make thumbnails (<SetId>-<k>-thumb.png) for the named sets.")
_stage_command(
    "variants",
    ("variants",),
    "Make the full-size gallery PNGs and WebP/AVIF variants for the named sets.",
)
_stage_command(
    "animate",
    ("animate",),
    "Make the rotating image (<SetId>.gif, .webm, .mp4) for the named sets.",
)


@main.command("pages")
@click.argument("set_ids", nargs=-1, metavar="[SET]...")
@wait_option
@common_options
def pages_cmd(opts: Options, set_ids: Sequence[str], wait: bool) -> None:
    """Write each set's gallery front matter into its page (creating missing pages).

    Only the images: and gallery: keys change; text people wrote is kept. With
    --dry-run, print a unified diff per page instead.
    """
    cfg = opts.load()
    if not pages_step.enabled(cfg):
        raise ConfigError("config", ["paths.pages: not set (set paths.pages or paths.site)"])
    with _writer(cfg, opts, wait):
        report = run(cfg, set_ids, dry_run=True, jobs=cfg.jobs)
        _print_failures(report, opts)
        pages_ok = _update_pages(cfg, report, opts)
    if not report.ok or not pages_ok:
        sys.exit(EXIT_FAILED)


def _update_pages(cfg: Config, report: BuildReport, opts: Options) -> bool:
    """The pages step of a build: print what changed, return False if a page failed."""
    results = pages_step.update_pages(cfg, report.results, dry_run=opts.dry_run)
    counts = dict.fromkeys(("created", "updated", "unchanged", "failed"), 0)
    for page in results:
        counts[page.status] += 1
        if page.status == "failed":
            click.echo(page.message, err=True)
        elif opts.dry_run and page.diff:
            click.echo(page.diff, nl=False)
        elif opts.verbosity >= 1:
            click.echo(f"{page.path}: {page.status}")
    if opts.verbosity >= 0:
        verb = "would be " if opts.dry_run else ""
        click.echo(
            f"pages: {counts['created']} {verb}created, {counts['updated']} {verb}updated, "
            f"{counts['unchanged']} unchanged, {counts['failed']} failed"
        )
    return counts["failed"] == 0


def _writer(
    cfg: Config, opts: Options, wait: bool, *, remove_lock: bool = False
) -> contextlib.AbstractContextManager[Any]:
    """The output root's lock for a command that writes; dry runs need none."""
    if opts.dry_run:
        return contextlib.nullcontext()
    quiet = opts.verbosity < 0
    return exclusive_build(
        cfg, wait=wait, on_wait=None if quiet else _echo_err, remove_lock=remove_lock
    )


@main.command()
@wait_option
@common_options
def clean(opts: Options, wait: bool) -> None:
    """Remove every output the manifest records, then the manifest; nothing else."""
    cfg = opts.load()
    out_root = cfg.paths.output_root
    with _writer(cfg, opts, wait, remove_lock=True):
        report = cleanup.clean(out_root, dry_run=opts.dry_run)
    for relpath in report.kept:
        changed = "not removed: not the file the build wrote (changed or replaced since)"
        click.echo(f"{out_root / relpath}: {changed}", err=True)
    verb = "would remove" if opts.dry_run else "removed"
    if opts.verbosity >= 1 or opts.dry_run:
        for relpath in report.removed:
            click.echo(f"{verb} {out_root / relpath}")
    if opts.verbosity >= 0:
        manifest = " and the manifest" if report.manifest_removed else ""
        click.echo(f"{verb} {len(report.removed)} file(s){manifest} from {out_root}")


def _run_with_progress(
    cfg: Config,
    set_ids: Sequence[str],
    stages: Sequence[str] | None,
    opts: Options,
    *,
    prune: bool = False,
) -> BuildReport:
    bar: tqdm[Any] | None = None
    # no bar in logs: unattended builds get only result lines on stderr
    show_bar = opts.verbosity >= 0 and not opts.dry_run and sys.stderr.isatty()

    def on_plan(pending: int) -> None:
        nonlocal bar
        if show_bar and pending:
            bar = tqdm(total=pending, unit="set", desc="building", file=sys.stderr, leave=False)

    finished: list[SetResult] = []

    def on_result(result: SetResult) -> None:
        finished.append(result)
        if bar is not None:  # only sets that needed a worker arrive after on_plan
            bar.update(1)
            bar.set_postfix_str(result.set_id)
        if opts.verbosity >= 1:
            _echo(f"{result.set_id}: {result.status} ({result.seconds:.2f} s)", bar)
            for written in result.written:
                _echo(
                    f"  wrote {written.relpath} {written.width}x{written.height} "
                    f"{human_size(written.bytes)}",
                    bar,
                )

    try:
        report = run(
            cfg,
            set_ids,
            stages=stages,
            force=opts.force,
            dry_run=opts.dry_run,
            jobs=cfg.jobs,
            prune=prune,
            on_result=on_result,
            on_plan=on_plan,
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
    if opts.dry_run:
        for result in report.results:
            for spec in result.stale:
                click.echo(f"would write {spec.relpath} ({spec.width}x{spec.height})")
    if opts.verbosity >= 1 or opts.dry_run:
        verb = "would remove" if opts.dry_run else "removed"
        for relpath in report.removed:
            click.echo(f"{verb} {relpath}")
    if opts.verbosity >= 0:
        click.echo(_summary(report, opts.dry_run))
    return report


def _print_failures(report: BuildReport, opts: Options) -> int:
    count = 0
    for result in report.failed:
        for defect in result.defects:
            click.echo(str(defect), err=True)
            count += 1
        if result.error:
            click.echo(result.error, err=True)
            count += 1
        if result.detail and opts.verbosity >= 1:
            click.echo(result.detail, err=True)
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


def _echo_err(text: str) -> None:
    click.echo(text, err=True)


def _echo(text: str, bar: tqdm[Any] | None) -> None:
    if bar is not None:
        bar.write(text)
    else:
        click.echo(text)
