"""``diagnose SYMPTOM``: the captures a symptom needs, then the findings and the incident report, in one run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from kubectl_rollouts_profile.cli.cluster_options import CLUSTER_OPTION_NAMES, cluster_options, cluster_request
from kubectl_rollouts_profile.cli.load_options import load_guard, load_options
from kubectl_rollouts_profile.cli.params import Duration
from kubectl_rollouts_profile.environment import Environment
from kubectl_rollouts_profile.errors import UsageError
from kubectl_rollouts_profile.pipeline import EndpointSpec
from kubectl_rollouts_profile.runbook.diagnose import SYMPTOMS, DiagnoseSpec, run_diagnose, with_default_lock
from kubectl_rollouts_profile.safe import dumps

_HELP = """Run the captures a SYMPTOM needs and write the incident report with its findings.

\b
{rows}

\b
Holds the capture lock and honours the cooldown and the load guard (exit 6). Example:
  kubectl rollouts-profile diagnose memory-growth --over 15m --output-dir /tmp/incident
""".format(rows="\n".join(f"{row.name:<15} {row.captures}" for row in SYMPTOMS.values()))


@click.command("diagnose", help=_HELP)
@click.argument("symptom", type=click.Choice(SYMPTOMS))
@click.option("--over", "over_seconds", type=Duration(), default="10m", show_default=True, metavar="DURATION",
              help="How long to watch (memory-growth, slow-reconcile, goroutine-leak).")
@click.option("--seconds", type=click.IntRange(1, 300), default=30, show_default=True,
              help="CPU capture duration (high-cpu, slow-reconcile, cold-start).")
@click.option("--url", metavar="URL", help="A pprof server (http://HOST:PORT) instead of the cluster.")
@click.option("--output-dir", metavar="DIR", default=".", show_default=True,
              help="Where the run's directory {pod}-diagnose-{symptom}-{time}/ is created.")
@click.option("--cooldown", type=Duration(), default="60s", show_default=True, metavar="DURATION",
              help="Refuse to run sooner than this after the last cpu/trace capture of the controller.")
@click.option("--wait", "wait_seconds", type=Duration(), default="10m", show_default=True, metavar="DURATION",
              help="cold-start: how long to wait for the controller to start.")
@click.option("--restart", is_flag=True,
              help="cold-start: delete the leader pod (or the one --pod names) once every check has passed and the "
              "lock is taken (needs delete on pods).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object: every file and every finding.")
@load_options
@cluster_options
@click.pass_obj
def diagnose_command(env: Environment, symptom: str, over_seconds: float, seconds: int, url: str | None,
                     output_dir: str, cooldown: float, wait_seconds: float, restart: bool, as_json: bool,
                     **options: Any) -> None:  # fmt: skip
    if restart and symptom != "cold-start":
        raise UsageError("--restart only applies to cold-start")
    load = load_guard(url, options)
    cluster = cluster_request(**{name: options.pop(name) for name in CLUSTER_OPTION_NAMES})
    endpoint_spec = with_default_lock(EndpointSpec(url=url, cluster=cluster, load=load), cooldown)
    spec = DiagnoseSpec(symptom=symptom, over_seconds=over_seconds, cpu_seconds=seconds, directory=Path(output_dir),
                        wait_seconds=wait_seconds, restart=restart)
    outcome = run_diagnose(endpoint_spec, spec, env)
    for warning in outcome.warnings:
        env.message(f"warning: {warning}")
    if as_json:
        env.result(dumps({
            "symptom": outcome.symptom, "target": outcome.source_name, "directory": str(outcome.directory),
            "files": list(outcome.files), "report": str(outcome.report),
            "findings": [finding.as_json() for finding in outcome.findings],
            "warnings": list(outcome.warnings),
            "load": outcome.load.as_json() if outcome.load is not None else None,
        }))
        return
    for path in outcome.files:
        env.result(path)
    env.message(f"{len(outcome.findings)} finding(s):" if outcome.findings else "no finding")
    for finding in outcome.findings:
        env.message(f"  [{finding.severity}] {finding.id}: {finding.title}")
        env.message(f"      next step: {finding.next_step}")
    env.message(f"report: {outcome.report}")


def register(group: click.Group) -> None:
    group.add_command(diagnose_command)
