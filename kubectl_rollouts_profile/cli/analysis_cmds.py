"""``analyze``: findings and the subsystem table of saved profiles, metrics files and bundles; ``--json`` for
runbooks, ``--html`` for the incident report page."""

from __future__ import annotations

from pathlib import Path

import click

from kubectl_rollouts_profile.analysis.rollup import GROUPINGS
from kubectl_rollouts_profile.analysis.run import analyze_paths, result_json, result_text
from kubectl_rollouts_profile.environment import Environment
from kubectl_rollouts_profile.safe import dumps, terminal, terminal_lines


@click.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Findings and tables as one JSON document on stdout.")
@click.option("--html", "html_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Also write the incident report page here (self-contained HTML).")
@click.option("--by", type=click.Choice(GROUPINGS), default="subsystem", show_default=True,
              help="Group the table by the controller's subsystems, Go packages or functions.")
@click.option("--rows", type=click.IntRange(min=1), default=12, show_default=True, help="Rows per table.")
@click.option("--force", is_flag=True, help="Replace an existing --html file.")
@click.pass_obj
def analyze(env: Environment, files: tuple[Path, ...], as_json: bool, html_path: Path | None, by: str, rows: int,
            force: bool) -> None:  # fmt: skip
    """Say what is wrong: findings (GC share, heap and goroutine growth, decoding CPU, work queue backlog,
    reconcile latency, too few samples) and where the time or memory went, by subsystem.

    FILES are pprof files, metrics text (the controller's /metrics) and bundle archives. Two heap or goroutine
    profiles given together are compared, the first as the base. Folders a run over several contexts wrote
    (or folders with one sub-folder per cluster) give the fleet report: each finding with the clusters where it
    holds and where it does not, and their versions.

    \b
    Examples:
      kubectl rollouts-profile analyze argo-rollouts-bundle.tar.gz --html report.html
      kubectl rollouts-profile analyze heap-1.pb.gz heap-2.pb.gz
      kubectl rollouts-profile analyze cpu.pb.gz metrics.txt --json
      kubectl rollouts-profile analyze fleet-diagnose-20261201T010203Z/ --html fleet.html
    """
    if html_path is not None:
        from kubectl_rollouts_profile.deliver import check_output_path

        check_output_path(html_path, force=force)  # before the analysis, which can take a while
    if any(path.is_dir() for path in files):
        analyze_fleet_command(env, files, as_json=as_json, html_path=html_path, force=force)
        return
    result = analyze_paths(files, by=by)
    for warning in result.warnings:
        env.message(f"warning: {terminal(warning)}")
    report = None
    if html_path is not None:
        from kubectl_rollouts_profile.analysis.report import render_report
        from kubectl_rollouts_profile.deliver import write_atomic

        title = "Argo Rollouts controller: incident report"
        page = render_report(result.data, result.findings, title=title, tables=result.rollups)
        report = write_atomic(html_path, page, force=force)
    if as_json:
        document = result_json(result, rows=rows)
        document["report"] = str(report) if report else None
        env.result(dumps(document, indent=2))
    else:
        env.result(terminal_lines(result_text(result, rows=rows).rstrip("\n")))
        if report is not None:
            env.result(str(report))
    if report is not None:
        env.message(f"report written to {report}")


def analyze_fleet_command(env: Environment, folders: tuple[Path, ...], *, as_json: bool, html_path: Path | None,
                          force: bool) -> None:  # fmt: skip
    """The fleet report of run folders: text or ``--json`` on stdout, ``--html`` written beside."""
    from kubectl_rollouts_profile.analysis.fleet import analyze_fleet, fleet_html, fleet_text
    from kubectl_rollouts_profile.errors import UsageError

    if not all(path.is_dir() for path in folders):
        raise UsageError("give either folders (the fleet report) or files, not both")
    fleet = analyze_fleet(folders)
    report = None
    if html_path is not None:
        from kubectl_rollouts_profile.deliver import write_atomic

        report = write_atomic(html_path, fleet_html(fleet), force=force)
    if as_json:
        env.result(dumps({"fleet": fleet.as_json(), "report": str(report) if report else None}, indent=2))
    else:
        env.result(terminal_lines(fleet_text(fleet).rstrip("\n")))
        if report is not None:
            env.result(str(report))
    if report is not None:
        env.message(f"report written to {report}")


def register(group: click.Group) -> None:
    group.add_command(analyze)
