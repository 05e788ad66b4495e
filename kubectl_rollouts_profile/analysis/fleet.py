"""The fleet report: the same analysis per cluster, then each finding with the clusters where it holds and where it
does not, and the controller versions on each side ("heap-growth: 2 of 3 clusters, all on v1.9.0; not in
prod-eu-1 (v1.8.3)").

Its input is the folder a run over several contexts wrote (``fleet.json`` and one folder per context), or any folder
whose sub-folders hold one cluster's captures each (named after the cluster). Several folders given together are
read as later captures of the same clusters (two heap runs: the growth between them).
"""

from __future__ import annotations

import html
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from kubectl_rollouts_profile.analysis.findings import RULES, RULES_BY_ID, SEVERITIES, Finding, find
from kubectl_rollouts_profile.analysis.inputs import AnalysisInput, load_paths
from kubectl_rollouts_profile.cluster.locate import image_tag
from kubectl_rollouts_profile.errors import RolloutsProfileError, UsageError

MANIFEST_NAME = "fleet.json"  # written by runbook.fleet
# What a cluster's folder may hold that the analysis reads (profiles, bundles, metrics text); the rest (HTML pages,
# speedscope, traces, goroutine text dumps) is skipped.
READABLE = (".pb.gz", ".tar.gz", ".tgz")
MAX_FILES_PER_CLUSTER = 200
MAX_CLUSTERS = 1000
VERSION_METRIC = "argo_rollouts_controller_info"


@dataclass(frozen=True)
class ClusterAnalysis:
    """One cluster's inputs and findings (or why it could not be analyzed)."""

    context: str
    files: tuple[Path, ...]
    version: str | None
    findings: tuple[Finding, ...] = ()
    problem: str | None = None  # no data, or the error reading it
    can_tell: frozenset[str] = frozenset()  # the finding ids its captures could show (e.g. growth needs two heaps)

    @property
    def analyzed(self) -> bool:
        return self.problem is None


@dataclass(frozen=True)
class FleetFinding:
    """One finding id across the fleet: the clusters where it holds (with their own finding) and where not."""

    id: str
    severity: str
    holds: tuple[tuple[ClusterAnalysis, Finding], ...]
    not_in: tuple[ClusterAnalysis, ...]  # its captures could have shown it, and do not
    cannot_tell: tuple[ClusterAnalysis, ...]  # analyzed, but without what the finding needs (e.g. two heaps)
    no_data: tuple[ClusterAnalysis, ...]

    @property
    def summary(self) -> str:
        analyzed = len(self.holds) + len(self.not_in)
        versions = sorted({_version(cluster) for cluster, _ in self.holds})
        on = f"all on {versions[0]}" if len(versions) == 1 else "on " + ", ".join(versions)
        line = f"{self.id}: {len(self.holds)} of {analyzed} clusters, {on}"
        if self.not_in:
            line += "; not in " + ", ".join(f"{cluster.context} ({_version(cluster)})" for cluster in self.not_in)
        if self.cannot_tell:
            needs = RULES_BY_ID[self.id].inputs if self.id in RULES_BY_ID else "other captures"
            line += (f"; cannot tell in {', '.join(cluster.context for cluster in self.cannot_tell)}"
                     f" (needs {needs})")
        return line

    def as_json(self) -> dict:
        return {
            "id": self.id, "severity": self.severity, "summary": self.summary,
            "holds": [{"context": cluster.context, "version": cluster.version, "finding": finding.as_json()}
                      for cluster, finding in self.holds],
            "notIn": [{"context": cluster.context, "version": cluster.version} for cluster in self.not_in],
            "cannotTell": [{"context": cluster.context, "version": cluster.version} for cluster in self.cannot_tell],
            "noData": [{"context": cluster.context, "problem": cluster.problem} for cluster in self.no_data],
        }  # fmt: skip


@dataclass(frozen=True)
class FleetAnalysis:
    clusters: tuple[ClusterAnalysis, ...]
    findings: tuple[FleetFinding, ...]

    def as_json(self) -> dict:
        return {
            "clusters": [{"context": cluster.context, "version": cluster.version,
                          "files": [str(path) for path in cluster.files],
                          "findings": [finding.id for finding in cluster.findings], "problem": cluster.problem}
                         for cluster in self.clusters],
            "findings": [finding.as_json() for finding in self.findings],
        }  # fmt: skip


def _version(cluster: ClusterAnalysis) -> str:
    return cluster.version or "version unknown"


def cluster_folders(directories: Sequence[Path]) -> dict[str, tuple[list[Path], str | None]]:
    """Each cluster's folders, in the order given, and the controller image its run recorded (a capture's
    ``image``), if any: from a run's ``fleet.json`` (context -> its folder), else every sub-folder named after its
    cluster."""
    clusters: dict[str, list[Path]] = {}
    images: dict[str, str] = {}
    for directory in directories:
        if not directory.is_dir():
            raise UsageError(f"{directory}: not a directory", hint="give the folder a run over several contexts wrote")
        manifest = directory / MANIFEST_NAME
        named: dict[str, Path | None] = {}
        if manifest.is_file():
            for entry in _manifest_contexts(manifest):
                folder = entry.get("directory")
                named[str(entry.get("context"))] = Path(folder) if folder else None
                result = entry.get("result")
                if isinstance(result, dict) and isinstance(result.get("image"), str):
                    images[str(entry.get("context"))] = result["image"]
        else:
            named = {folder.name: folder for folder in sorted(directory.iterdir()) if folder.is_dir()}
        for context, folder in named.items():
            clusters.setdefault(context, [])
            if folder is not None:
                # A run's folders are recorded as written; a copied or moved run is found beside its manifest.
                clusters[context].append(folder if folder.is_dir() else directory / folder.name)
    if not clusters:
        raise UsageError("no cluster folders found", hint="give the folder a run over several contexts wrote")
    if len(clusters) > MAX_CLUSTERS:
        raise UsageError(f"{len(clusters)} clusters: at most {MAX_CLUSTERS} are analyzed together")
    return {context: (folders, images.get(context)) for context, folders in clusters.items()}


def _manifest_contexts(manifest: Path) -> list[dict]:
    try:
        document = json.loads(manifest.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise UsageError(f"{manifest}: not a readable run manifest ({error})") from error
    entries = document.get("contexts") if isinstance(document, dict) else None
    if not isinstance(entries, list):
        raise UsageError(f"{manifest}: no contexts in the run manifest")
    return [entry for entry in entries if isinstance(entry, dict) and entry.get("context")]


def analyze_fleet(directories: Sequence[Path]) -> FleetAnalysis:
    """Analyze every cluster's captures, then line the findings up across the clusters."""
    clusters = tuple(_analyze_cluster(context, folders, image)
                     for context, (folders, image) in cluster_folders(directories).items())
    return FleetAnalysis(clusters, tuple(line_up(clusters)))


def _analyze_cluster(context: str, folders: Sequence[Path], image: str | None) -> ClusterAnalysis:
    files = tuple(sorted((path for folder in folders if folder.is_dir() for path in folder.rglob("*")
                          if path.is_file() and readable(path.name)),
                         key=lambda path: (folders.index(next(f for f in folders if f in path.parents)), path.name)))
    if not files:
        return ClusterAnalysis(context, (), image_tag(image) if image else None, problem="no captures")
    if len(files) > MAX_FILES_PER_CLUSTER:
        return ClusterAnalysis(context, files, None, problem=f"{len(files)} files: at most {MAX_FILES_PER_CLUSTER}")
    try:
        data = load_paths(list(files))
    except RolloutsProfileError as error:
        return ClusterAnalysis(context, files, None, problem=str(error))
    return ClusterAnalysis(context, files, version_of(data) or (image_tag(image) if image else None),
                           tuple(find(data)), can_tell=frozenset(rule.id for rule in RULES if rule.can_tell(data)))


def readable(name: str) -> bool:
    """A file the analysis reads: a profile, a bundle, metrics text; never a temporary (dot) file."""
    if name.startswith("."):
        return False
    return name.endswith(READABLE) or (name.endswith(".txt") and "metrics" in name)


def version_of(data: AnalysisInput) -> str | None:
    """The controller's version: its image tag from a bundle's facts, else ``argo_rollouts_controller_info``
    (else the caller uses the image the run recorded)."""
    image = dict(data.facts).get("image")
    if image:
        return image_tag(image)
    for snapshot in reversed(data.metrics):
        for sample in snapshot.values(VERSION_METRIC):
            if sample.label("version"):
                return sample.label("version")
    return None


def line_up(clusters: Sequence[ClusterAnalysis]) -> list[FleetFinding]:
    """Each finding id seen anywhere, most severe first, then by how many clusters show it."""
    analyzed = [cluster for cluster in clusters if cluster.analyzed]
    no_data = tuple(cluster for cluster in clusters if not cluster.analyzed)
    ids = list(dict.fromkeys(finding.id for cluster in analyzed for finding in cluster.findings))
    lined = []
    for finding_id in ids:
        holds = tuple((cluster, next(f for f in cluster.findings if f.id == finding_id))
                      for cluster in analyzed if any(f.id == finding_id for f in cluster.findings))
        severity = min((finding.severity for _, finding in holds), key=SEVERITIES.index)
        without = [cluster for cluster in analyzed if all(f.id != finding_id for f in cluster.findings)]
        not_in = tuple(cluster for cluster in without if finding_id in cluster.can_tell)
        cannot_tell = tuple(cluster for cluster in without if finding_id not in cluster.can_tell)
        lined.append(FleetFinding(finding_id, severity, holds, not_in, cannot_tell, no_data))
    return sorted(lined, key=lambda item: (SEVERITIES.index(item.severity), -len(item.holds)))


def fleet_text(fleet: FleetAnalysis) -> str:
    lines = [f"Fleet: {len(fleet.clusters)} clusters"]
    for cluster in fleet.clusters:
        state = cluster.problem or f"{len(cluster.files)} files, {len(cluster.findings)} findings"
        lines.append(f"  {cluster.context} ({_version(cluster)}): {state}")
    lines.append("")
    lines.append(f"Findings ({len(fleet.findings)}):" if fleet.findings else "No finding in any cluster.")
    for item in fleet.findings:
        lines.append(f"  [{item.severity}] {item.summary}")
        for cluster, finding in item.holds:
            lines.append(f"      {cluster.context}: {finding.title}")
        lines.append(f"      next step: {item.holds[0][1].next_step}")
    return "\n".join(lines) + "\n"


_STYLE = (
    "body{font:14px/1.45 system-ui,sans-serif;margin:24px;color:#1d2433}table{border-collapse:collapse;margin:12px 0}"
    "th,td{border:1px solid #d0d5dd;padding:4px 8px;text-align:left;vertical-align:top}th{background:#f2f4f7}"
    ".critical{color:#b42318}.warning{color:#b54708}.info{color:#175cd3}td.yes{background:#fef3f2}"
    "td.no{background:#ecfdf3}td.nodata{color:#98a2b3}"
)


def fleet_html(fleet: FleetAnalysis, *, title: str = "Argo Rollouts controllers: fleet report") -> bytes:
    """One self-contained page: a row per finding, a column per cluster (holds / does not / no data), the versions
    in the header, and each cluster's own finding titles."""

    def e(text: object) -> str:
        return html.escape(str(text), quote=True)

    head = "".join(f"<th>{e(cluster.context)}<br><small>{e(_version(cluster))}</small></th>"
                   for cluster in fleet.clusters)
    rows = []
    for item in fleet.findings:
        holding = {cluster.context: finding for cluster, finding in item.holds}
        unknown = {cluster.context for cluster in item.cannot_tell}
        cells = []
        for cluster in fleet.clusters:
            if not cluster.analyzed:
                cells.append(f"<td class='nodata'>no data: {e(cluster.problem)}</td>")
            elif cluster.context in holding:
                cells.append(f"<td class='yes'>holds: {e(holding[cluster.context].title)}</td>")
            elif cluster.context in unknown:
                cells.append("<td class='nodata'>cannot tell from its captures</td>")
            else:
                cells.append("<td class='no'>does not hold</td>")
        rows.append(f"<tr><th class='{e(item.severity)}'>{e(item.summary)}</th>{''.join(cells)}</tr>")
    body = (f"<h1>{e(title)}</h1><p>{len(fleet.clusters)} clusters, {len(fleet.findings)} findings.</p>"
            f"<table><tr><th>finding</th>{head}</tr>{''.join(rows)}</table>")
    if not fleet.findings:
        body += "<p>No finding in any cluster.</p>"
    page = (f"<!doctype html><html><head><meta charset='utf-8'><title>{e(title)}</title><style>{_STYLE}</style>"
            f"</head><body>{body}</body></html>\n")
    return page.encode("utf-8")
