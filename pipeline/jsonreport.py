"""The machine-readable report of ``build``, ``check`` and ``list`` (``--json``).

One JSON object on stdout, the same shape for every command, so a CI job can read
any of them with one parser; ``docs/cli.md`` documents it. Bump ``FORMAT`` when a
key changes meaning or goes away (adding keys does not bump it).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pipeline.build import BuildReport, SetResult
from pipeline.config import Config
from pipeline.site.pages import PageResult
from pipeline.site.weight import PageWeight, result_weight

FORMAT = 1


def report_json(
    cfg: Config,
    command: str,
    report: BuildReport,
    *,
    dry_run: bool,
    ok: bool,
    pages: Sequence[PageResult] | None = None,
    frames: Mapping[str, int] | None = None,
) -> dict[str, Any]:
    """The whole report: ``ok`` is what the exit code says (0 when true)."""
    return {
        "format": FORMAT,
        "command": command,
        "ok": ok,
        "dry_run": dry_run,
        "raw": str(cfg.paths.raw),
        "output_root": str(cfg.paths.output_root),
        "budget_kib": cfg.pages.budget_kib,
        "sets": [
            set_json(cfg, result, (frames or {}).get(result.set_id)) for result in report.results
        ],
        "pages": None if pages is None else [_page_json(p) for p in pages],
        "removed": list(report.removed),
        "totals": {
            "sets": len(report.results),
            "built": report.count("built"),
            "up_to_date": report.count("up-to-date"),
            "stale": report.count("stale"),
            "failed": len(report.failed),
            "files_written": report.files_written,
            "bytes_written": report.bytes_written,
            "seconds": round(report.seconds, 3),
        },
    }


def set_json(cfg: Config, result: SetResult, frames: int | None = None) -> dict[str, Any]:
    weight = result_weight(result)
    return {
        "id": result.set_id,
        "status": result.status,
        "frames": frames,
        "defects": [{"path": str(d.path), "problem": d.problem} for d in result.defects],
        "error": result.error,
        "outputs": [_output_json(w.to_json()) for w in result.outputs],
        "written": [str(w.relpath) for w in result.written],
        "stale": [str(output.relpath) for output in result.stale],
        "page_weight": None if weight is None else weight_json(weight, cfg.pages.budget_kib),
    }


def weight_json(weight: PageWeight, budget_kib: int | None) -> dict[str, Any]:
    return {
        "bytes": weight.bytes,
        "click_bytes": weight.click_bytes,
        "files": {str(w.relpath): w.bytes for w in weight.view},
        "missing": [str(p) for p in weight.missing],
        "over_budget": weight.over(budget_kib),
    }


def _output_json(record: dict[str, Any]) -> dict[str, Any]:
    """A recorded output with its path under the key every other path uses."""
    return {"path": record.pop("relpath"), **record}


def _page_json(page: PageResult) -> dict[str, Any]:
    return {
        "set": page.set_id,
        "path": str(page.path),
        "status": page.status,
        "message": page.message,
    }
