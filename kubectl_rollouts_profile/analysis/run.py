"""The analysis driver: files in, one AnalysisResult out (the inputs, the findings, a rollup per profile), and
the JSON and text forms of that result. The CLI and the bundle call this; nothing here prints."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from kubectl_rollouts_profile import bundlelayout as layout
from kubectl_rollouts_profile.analysis.findings import Finding, find
from kubectl_rollouts_profile.analysis.inputs import AnalysisInput, ProfileInput, load_paths
from kubectl_rollouts_profile.analysis.known_issues import controller_version
from kubectl_rollouts_profile.analysis.rollup import Rollup, render_rollup, rollup
from kubectl_rollouts_profile.safe import dumps, terminal


@dataclass(frozen=True)
class AnalysisResult:
    data: AnalysisInput
    findings: tuple[Finding, ...]
    rollups: tuple[tuple[str, str, Rollup], ...]  # (profile name, kind, table)

    @property
    def warnings(self) -> tuple[str, ...]:
        """What the inputs held that was left out (metrics values that are not finite numbers)."""
        return tuple(warning for snapshot in self.data.metrics if (warning := snapshot.warning()))


def analyze(data: AnalysisInput, *, by: str = "subsystem") -> AnalysisResult:
    tables = tuple((item.name, item.kind, rollup(item.profile, by)) for item in data.profiles
                   if item.profile.sample_types)
    return AnalysisResult(data, tuple(find(data)), tables)


def analyze_paths(paths: Sequence[Path], *, by: str = "subsystem") -> AnalysisResult:
    return analyze(load_paths(paths), by=by)


def result_json(result: AnalysisResult, *, rows: int | None = None) -> dict:
    metrics = result.data.metrics[-1] if result.data.metrics else None
    reconcile = metrics.reconcile() if metrics else None
    return {
        "findings": [finding.as_json() for finding in result.findings],
        "profiles": [
            {"name": name, "kind": kind, "sampleType": table.sample_type, "unit": table.unit, "total": table.total,
             "by": table.grouping, "notControllerShare": round(table.not_controller_share, 4),
             "note": table.note(),
             "rows": [{"key": row.key, "flat": row.flat, "cum": row.cum} for row in table.rows[:rows]]}
            for name, kind, table in result.rollups
        ],
        "metrics": None if metrics is None else {
            "source": metrics.source, "goroutines": metrics.goroutines, "cpuSeconds": metrics.cpu_seconds,
            "residentBytes": metrics.resident_bytes, "workqueueDepth": metrics.workqueue(),
            "reconcileCount": reconcile.count if reconcile else 0,
            "reconcileMeanSeconds": round(reconcile.mean_seconds, 6) if reconcile else None,
        },
        "facts": dict(result.data.facts),
        "controllerVersion": controller_version(result.data.facts, [m.version for m in result.data.metrics]),
        "warnings": list(result.warnings),
    }  # fmt: skip


def result_text(result: AnalysisResult, *, rows: int = 12) -> str:
    """The findings and tables for a terminal: every text that came from a profile, a metrics page or a file name
    (function names, labels in findings) shown with its control characters escaped, one line each."""
    lines = [f"Findings ({len(result.findings)}):" if result.findings else "No finding."]
    for finding in result.findings:
        lines.append(f"  [{finding.severity}] {finding.id}: {terminal(finding.title)}")
        lines += [f"      - {terminal(line)}" for line in finding.evidence]
        lines.append(f"      next step: {terminal(finding.next_step)}")
    for name, kind, table in result.rollups:
        lines.append("")
        note = table.note()
        if note:
            lines.append(f"warning: {terminal(name)}: {terminal(note)}")
        lines.append(render_rollup(table, title=f"{name} ({kind})", rows=rows).rstrip("\n"))
    return "\n".join(lines) + "\n"


def bundle_report(work_dir: Path, names: Sequence[str], manifest: dict) -> bytes:
    """The incident report of a bundle being written: its files in ``work_dir`` (``names``) and its manifest."""
    from kubectl_rollouts_profile.analysis.inputs import load_members
    from kubectl_rollouts_profile.analysis.report import render_report

    members = {name: (work_dir / name).read_bytes() for name in names}
    members[layout.MANIFEST] = dumps(manifest).encode()
    declared = layout.Manifest.from_json(manifest)
    data = load_members(members, declared.bundle or "bundle")
    title = f"Incident report: {declared.controller.namespace}/{declared.controller.pod}"
    return render_report(data, find(data), title=title)


def trend_page(points: Sequence[tuple[str, float]], first: ProfileInput, last: ProfileInput, *,
               source_name: str) -> bytes:  # fmt: skip
    """The goroutine trend's chart page: the count over time, what grew from the first snapshot to the last
    (findings, subsystems, flame graphs and their diff)."""
    from kubectl_rollouts_profile.analysis.report import render_report

    data = AnalysisInput(profiles=(first, last), trend=tuple(points), facts=(("target", source_name),))
    return render_report(data, find(data), title=f"Goroutine trend: {source_name}")
