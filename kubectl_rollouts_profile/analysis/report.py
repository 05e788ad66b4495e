"""The incident report: one self-contained HTML page (inline style, script and SVG; no network request; at most
5 MB). Findings first; then the capture facts; the metrics and the goroutine trend as inline SVG charts; for each
profile a subsystem bar chart and its flame graph (the export's flame graph page, embedded with ``srcdoc``); and
the before/after diffs."""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone

from kubectl_rollouts_profile.analysis.findings import Finding
from kubectl_rollouts_profile.analysis.inputs import AnalysisInput, ProfileInput
from kubectl_rollouts_profile.analysis.metrics import MetricsSnapshot
from kubectl_rollouts_profile.analysis.rollup import Rollup, rollup
from kubectl_rollouts_profile.budget import DEFAULT, Budget
from kubectl_rollouts_profile.export.units import scaled_label
from kubectl_rollouts_profile.pprof.model import Profile

MAX_REPORT_BYTES = DEFAULT.report_bytes
SUBSYSTEM_BARS = 12
QUEUES_SHOWN = 20  # work queues in the metrics table and charts: the deepest
TREND_POINTS = 200  # points of a line chart: evenly picked from longer series
NAMES_LISTED = 100  # names of the profiles not drawn
_COLORS = {"critical": "#c62828", "warning": "#ef6c00", "info": "#1565c0"}

_STYLE = """
body { font: 14px/1.45 system-ui, sans-serif; margin: 0 auto; max-width: 1180px; padding: 0 16px 40px; color: #222; }
h1 { font-size: 22px; margin: 18px 0 4px; } h2 { font-size: 18px; margin: 28px 0 8px; border-bottom: 1px solid #ddd; }
h3 { font-size: 15px; margin: 18px 0 6px; }
.meta { color: #666; }
.finding { border-left: 5px solid #999; background: #fafafa; padding: 8px 12px; margin: 10px 0; }
.finding .title { font-weight: 600; } .finding ul { margin: 4px 0; padding-left: 20px; }
.finding .next { color: #333; } .sev { text-transform: uppercase; font-size: 11px; font-weight: 700; }
table.facts td { padding: 2px 12px 2px 0; vertical-align: top; } table.facts td:first-child { color: #666; }
svg text { font: 11px system-ui, sans-serif; fill: #333; }
iframe.flame { width: 100%; height: 460px; border: 1px solid #ccc; }
.none { color: #2e7d32; font-weight: 600; }
"""


@dataclass(frozen=True)
class FlameSource:
    """A profile (or a diff) to draw: its title and which section it belongs to."""

    title: str
    profile: Profile
    sample_index: str | None = None


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _finding_html(finding: Finding) -> str:
    color = _COLORS.get(finding.severity, "#999")
    evidence = "".join(f"<li>{_e(line)}</li>" for line in finding.evidence)
    return (f'<div class="finding" data-finding="{_e(finding.id)}" style="border-left-color:{color}">'
            f'<span class="sev" style="color:{color}">{_e(finding.severity)}</span> '
            f'<code>{_e(finding.id)}</code><div class="title">{_e(finding.title)}</div><ul>{evidence}</ul>'
            f'<div class="next"><b>Next step:</b> {_e(finding.next_step)}</div></div>')


def subsystem_chart(table: Rollup, *, rows: int = SUBSYSTEM_BARS) -> str:
    """Horizontal bars: each subsystem's flat share of the profile's total."""
    shown = [row for row in table.rows if row.flat > 0][:rows]
    width, label_width, bar_height = 760, 300, 18
    height = max(1, len(shown)) * (bar_height + 4) + 8
    largest = max((row.flat for row in shown), default=1) or 1
    parts = [f'<svg class="chart" data-chart="subsystems" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" role="img" aria-label="{_e(table.sample_type)} by subsystem">']
    for i, row in enumerate(shown):
        y = 4 + i * (bar_height + 4)
        bar = max(1.0, (width - label_width - 120) * row.flat / largest)
        share = 100 * row.flat / table.total if table.total else 0
        parts.append(f'<text x="{label_width - 6}" y="{y + 13}" text-anchor="end">{_e(row.key)}</text>'
                     f'<rect x="{label_width}" y="{y}" width="{bar:.1f}" height="{bar_height}" fill="#ef8a3c">'
                     f'<title>{_e(row.key)}: {_e(scaled_label(row.flat, table.unit))}</title></rect>'
                     f'<text x="{label_width + bar + 6:.1f}" y="{y + 13}">'
                     f'{_e(scaled_label(row.flat, table.unit))} ({share:.1f}%)</text>')
    if not shown:
        parts.append('<text x="10" y="14">no samples</text>')
    parts.append("</svg>")
    return "".join(parts)


def line_chart(name: str, points: Sequence[tuple[str, float]], *, unit: str = "") -> str:
    """A small line chart of values over labelled points (snapshots in order)."""
    width, height, left, bottom = 760, 180, 60, 30
    values = [value for _, value in points]
    top = max(values, default=1) or 1
    step = (width - left - 20) / max(1, len(points) - 1)
    coordinates = [(left + i * step, 10 + (height - bottom - 10) * (1 - value / top))
                   for i, value in enumerate(values)]
    path = " ".join(f"{x:.1f},{y:.1f}" for x, y in coordinates)
    parts = [f'<svg class="chart" data-chart="{_e(name)}" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" role="img" aria-label="{_e(name)}">',
             f'<line x1="{left}" y1="{height - bottom}" x2="{width - 10}" y2="{height - bottom}" stroke="#999"/>',
             f'<text x="4" y="14">{_e(f"{top:g}{unit}")}</text><text x="4" y="{height - bottom}">0</text>',
             f'<polyline points="{path}" fill="none" stroke="#1565c0" stroke-width="2"/>']
    for (label, value), (x, y) in zip(points, coordinates, strict=True):
        parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3.5" fill="#1565c0"><title>{_e(label)}: '
                     f'{value:g}{_e(unit)}</title></circle>'
                     f'<text x="{x:.1f}" y="{height - 10}" text-anchor="middle">{_e(label[-24:])}</text>')
    parts.append("</svg>")
    return "".join(parts)


def bar_chart(name: str, bars: Sequence[tuple[str, float]]) -> str:
    """Vertical bars (histogram buckets)."""
    width, height, bottom = 760, 180, 30
    top = max((value for _, value in bars), default=1) or 1
    slot = (width - 20) / max(1, len(bars))
    parts = [f'<svg class="chart" data-chart="{_e(name)}" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" role="img" aria-label="{_e(name)}">']
    for i, (label, value) in enumerate(bars):
        bar = (height - bottom - 16) * value / top
        x = 10 + i * slot
        parts.append(f'<rect x="{x + 4:.1f}" y="{height - bottom - bar:.1f}" width="{slot - 8:.1f}" '
                     f'height="{bar:.1f}" fill="#5c6bc0"><title>{_e(label)}: {value:g}</title></rect>'
                     f'<text x="{x + slot / 2:.1f}" y="{height - bottom - bar - 3:.1f}" text-anchor="middle">'
                     f'{value:g}</text><text x="{x + slot / 2:.1f}" y="{height - 10}" text-anchor="middle">'
                     f'{_e(label)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _metrics_html(metrics: Sequence[MetricsSnapshot]) -> str:
    if not metrics:
        return ""
    last = metrics[-1]
    parts = ["<h2>Metrics</h2>"]
    rows = [("goroutines (go_goroutines)", last.goroutines),
            ("CPU seconds (process_cpu_seconds_total)", last.cpu_seconds),
            ("resident memory (process_resident_memory_bytes)",
             scaled_label(last.resident_bytes, "bytes") if last.resident_bytes is not None else None)]
    queues = sorted(last.workqueue().items(), key=lambda item: (-item[1], item[0]))
    shown_queues = sorted(queue for queue, _ in queues[:QUEUES_SHOWN])
    rows += [(f"workqueue_depth {{name={queue}}}", f"{depth:g}") for queue, depth in sorted(queues[:QUEUES_SHOWN])]
    if len(queues) > QUEUES_SHOWN:
        rows.append(("workqueue_depth", f"{len(queues) - QUEUES_SHOWN} more queues not shown"))
    requests = last.value("controller_clientset_k8s_request_total")
    rows.append(("API requests (controller_clientset_k8s_request_total)",
                 None if requests is None else f"{requests:g}"))
    parts.append('<table class="facts">' + "".join(f"<tr><td>{_e(k)}</td><td>{_e(v)}</td></tr>"
                                                    for k, v in rows if v is not None) + "</table>")
    stats = last.reconcile()
    if stats is not None and stats.count:
        previous = 0
        bars = []
        for bound, cumulative in stats.buckets:
            bars.append((f"≤{bound:g}s" if bound != float("inf") else ">1s", float(cumulative - previous)))
            previous = cumulative
        parts.append(f"<h3>rollout_reconcile: {stats.count} reconciles, {stats.mean_seconds * 1000:.0f} ms on "
                     "average</h3>" + bar_chart("reconcile-histogram", bars))
    if len(metrics) > 1:
        labels = [snapshot.source or f"#{i + 1}" for i, snapshot in enumerate(metrics)]
        goroutines = [(label, float(s.goroutines or 0)) for label, s in zip(labels, metrics, strict=True)]
        parts.append("<h3>go_goroutines over the snapshots</h3>" + line_chart("metrics-goroutines", goroutines))
        for queue in shown_queues:
            depths = [(label, s.workqueue().get(queue, 0.0)) for label, s in zip(labels, metrics, strict=True)]
            parts.append(f"<h3>workqueue_depth {{name={_e(queue)}}} over the snapshots</h3>"
                         + line_chart(f"workqueue-{queue}", depths))
    return "".join(parts)


def _trend_html(data: AnalysisInput) -> str:
    goroutines = data.of_kind("goroutine")
    points = list(data.trend) or [(item.name, float(item.profile.total("goroutine"))) for item in goroutines]
    if len(points) < 2:
        return ""
    if len(points) > TREND_POINTS:
        step = (len(points) - 1) / (TREND_POINTS - 1)
        points = [points[round(i * step)] for i in range(TREND_POINTS)]
    return "<h2>Goroutine trend</h2>" + line_chart("goroutine-trend", points)


def _flame_iframe(source: FlameSource, budget: int) -> str:
    from kubectl_rollouts_profile.export.flamegraph import render_flamegraph

    threshold = 0.002
    page = render_flamegraph(source.profile, title=source.title, sample_index=source.sample_index,
                             threshold=threshold)
    while len(page) * 1.15 > budget and threshold < 0.2:
        threshold *= 2
        page = render_flamegraph(source.profile, title=source.title, sample_index=source.sample_index,
                                 threshold=threshold)
    return (f'<iframe class="flame" data-flamegraph="{_e(source.title)}" title="{_e(source.title)}" '
            f'srcdoc="{_e(page.decode())}"></iframe>')


def _changed(source: FlameSource) -> bool:
    """Whether a diff holds any net change once the same call stacks of both snapshots are netted."""
    from kubectl_rollouts_profile.analysis.rollup import stacks

    net: dict[tuple[str, ...], int] = {}
    for stack in stacks(source.profile, source.sample_index):
        net[stack.functions] = net.get(stack.functions, 0) + stack.value
    return any(net.values())


def _subsystem_table(item: ProfileInput, source: FlameSource, tables: Sequence[tuple[str, str, Rollup]]) -> Rollup:
    wanted = item.profile.sample_types[item.profile.sample_index(source.sample_index)].type
    for name, _, table in tables:
        if name == item.name and table.grouping == "subsystem" and table.sample_type == wanted:
            return table
    return rollup(item.profile, "subsystem", sample_index=source.sample_index)


def _default_index(item: ProfileInput) -> str | None:
    return {"heap": "inuse_space", "allocs": "alloc_space", "cpu": "cpu"}.get(item.kind)


def render_report(data: AnalysisInput, findings: Sequence[Finding], *, title: str,
                  generated: datetime | None = None, budget: Budget = DEFAULT,
                  tables: Sequence[tuple[str, str, Rollup]] = ()) -> bytes:  # fmt: skip
    """The whole page as UTF-8 bytes, within the budget's bound for it: the diffs and the first
    ``budget.report_profiles`` profiles are drawn, the others listed by name. ``tables``: rollups already made
    (an analysis's, by profile name), used where they are by subsystem of the sample type drawn."""
    from kubectl_rollouts_profile.pprof.transform import diff

    generated = generated or datetime.now(timezone.utc)
    sections: list[tuple[ProfileInput | None, FlameSource]] = [
        (item, FlameSource(item.name, item.profile, _default_index(item))) for item in data.profiles
        if item.profile.sample_types
    ]
    not_drawn = [item.name for item, _ in sections[budget.report_profiles:] if item is not None]
    sections = sections[: budget.report_profiles]
    for kind in ("heap", "goroutine"):
        pair = data.pair(kind)
        if pair is not None:
            base, new = pair
            sections.append((None, FlameSource(f"{new.name} minus {base.name}", diff(base.profile, new.profile),
                                               _default_index(new))))
    flame_budget = budget.report_flame_bytes // max(1, len(sections))
    body = [f"<h1>{_e(title)}</h1><div class=\"meta\">Generated {_e(generated.strftime('%Y-%m-%d %H:%M:%S UTC'))}"
            f" from {len(data.profiles)} profile(s) and {len(data.metrics)} metrics snapshot(s)</div>",
            "<h2>Findings</h2>"]
    if findings:
        body += [_finding_html(finding) for finding in findings]
    else:
        body.append('<p class="none" data-finding="none">No finding: nothing in these profiles and metrics '
                    "points at a known problem.</p>")
    if data.facts:
        body.append("<h2>Capture</h2><table class=\"facts\">" + "".join(
            f"<tr><td>{_e(key)}</td><td>{_e(value)}</td></tr>" for key, value in data.facts) + "</table>")
    body.append(_metrics_html(data.metrics))
    body.append(_trend_html(data))
    body.append("<h2>Profiles</h2>")
    for item, source in sections:
        heading = source.title if item is None else f"{item.name} ({item.kind})"
        body.append(f'<section class="profile"><h3>{_e(heading)}</h3>')
        if item is not None:
            body.append(subsystem_chart(_subsystem_table(item, source, tables)))
        if item is None and not _changed(source):
            body.append('<p class="meta" data-nochange="1">No change between the two snapshots.</p>')
        else:
            body.append(_flame_iframe(source, flame_budget))
        body.append("</section>")
    if not_drawn:
        listed = ", ".join(_e(name) for name in not_drawn[:NAMES_LISTED])
        more = f" and {len(not_drawn) - NAMES_LISTED} more" if len(not_drawn) > NAMES_LISTED else ""
        body.append(f'<p class="meta" data-notdrawn="{len(not_drawn)}">{len(not_drawn)} more profiles are not '
                    f"drawn, to keep this page small (analyze them on their own): {listed}{more}.</p>")
    page = (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; style-src \'unsafe-inline\'; '
        "script-src 'unsafe-inline'\">"
        f"<title>{_e(title)}</title><style>{_STYLE}</style></head><body>" + "".join(body) + "</body></html>\n"
    ).encode()
    return page
