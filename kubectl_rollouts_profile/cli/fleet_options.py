"""Several contexts at once for every cluster command: ``--context`` repeated or ``--all-contexts``, ``--parallel N``.

``several_contexts`` wraps a command: with one context (or none) the command runs as always; with more, the run
goes to ``runbook.fleet`` instead, which starts the same command once per context (with the arguments as given,
``--context NAME --json`` and the context's own folder) and prints one progress line per context, the summary
table, and the results.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import click

from kubectl_rollouts_profile.cli import COMMAND_ARGS_KEY
from kubectl_rollouts_profile.environment import Environment
from kubectl_rollouts_profile.errors import Terminated, UsageError, note_leftovers
from kubectl_rollouts_profile.safe import dumps, terminal

# Commands that run against several contexts; the others (forward, cold start) hold one cluster by nature.
FLEET_COMMANDS = ("targets", "check", "bundle", "diagnose", "cpu", "heap", "allocs", "goroutine", "block", "mutex",
                  "threadcreate", "trace")


def several_contexts(command: Callable[..., Any]) -> Callable[..., Any]:
    """Add ``--context`` (repeatable), ``--all-contexts`` and ``--parallel`` to a command's callback; the callback
    itself always receives one ``context`` (a name or None)."""

    @functools.wraps(command)
    def dispatch(*args: Any, **options: Any) -> Any:
        contexts = tuple(dict.fromkeys(options.pop("context") or ()))
        all_contexts = options.pop("all_contexts")
        parallel = options.pop("parallel")
        if all_contexts and contexts:
            raise UsageError("--all-contexts and --context are exclusive", hint="give one of them")
        if all_contexts or len(contexts) > 1:
            return run_several(click.get_current_context(), options, contexts, all_contexts, parallel)
        return command(*args, context=contexts[0] if contexts else None, **options)

    for option in reversed([
        click.option("--context", metavar="NAME", multiple=True,
                     help="Kubeconfig context to use; repeat it to run against several clusters at once."),
        click.option("--all-contexts", is_flag=True, help="Run against every context of the kubeconfig."),
        click.option("--parallel", type=click.IntRange(1, 64), default=4, show_default=True, metavar="N",
                     help="With several contexts: how many run at once."),
    ]):
        dispatch = option(dispatch)
    return dispatch


def run_several(ctx: click.Context, options: dict[str, Any], contexts: tuple[str, ...], all_contexts: bool,
                parallel: int) -> None:
    """Run ``ctx``'s command once per context through ``runbook.fleet`` and report; raises the run's error."""
    from kubectl_rollouts_profile.cluster.config import context_names
    from kubectl_rollouts_profile.runbook import fleet

    env: Environment = ctx.obj if isinstance(ctx.obj, Environment) else Environment()
    name = str(ctx.command.name)
    if name not in FLEET_COMMANDS:
        raise UsageError(f"{name} works with one context at a time",
                         hint="several contexts work with " + ", ".join(FLEET_COMMANDS))
    if options.get("output") or options.get("url"):
        raise UsageError(f"{'-o' if options.get('output') else '--url'} names one target; with several contexts "
                         "files go to one folder per context", hint="use --output-dir DIR")
    names = list(contexts) if not all_contexts else context_names(options.get("kubeconfig"), env.environ)
    as_json = bool(options.get("as_json"))
    typed = list(ctx.meta.get(COMMAND_ARGS_KEY) or ())
    args = fleet.without_options(typed, valued=("--context", "--parallel", "--output-dir"),
                                 flags=("--all-contexts", "--json"))
    run_directory = None
    folders: dict[str, Path] = {}
    if any(param.name == "output_dir" for param in ctx.command.params):
        stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
        run_directory = Path(options.get("output_dir") or ".") / f"fleet-{name}-{stamp}"
        if not run_directory.parent.is_dir():
            raise UsageError(f"--output-dir {run_directory.parent}: no such directory")
        run_directory.mkdir(mode=0o700)
        folders = fleet.context_folders(names, run_directory)
    work = fleet.ChildCommand(
        program=fleet.plugin_program(), group_args=("--debug",) if ctx.meta.get("debug") else (), command=name,
        args=tuple(args), environ=env.environ, directories=folders,
    )
    env.message(f"{name}: {len(names)} contexts, {min(parallel, len(names))} at a time"
                + (f"; files in {run_directory}/CONTEXT/" if run_directory else ""))

    def progress(outcome: fleet.ContextOutcome, done: int, total: int) -> None:
        what = "ok" if outcome.ok else f"exit {outcome.exit_code}: {outcome.error}"
        env.message(terminal(f"[{done}/{total}] {outcome.context}: {what} ({outcome.seconds:.1f}s)"))

    run = fleet.run_contexts(names, work, parallel=parallel, progress=progress)
    document = run.as_json(name, str(run_directory) if run_directory else None)
    if run_directory is not None:
        fleet.write_manifest(run_directory, document)
    for line in format_table(fleet.summary_rows(run, describe_result)):
        env.message(line)
    if as_json:
        env.result(dumps(document, indent=2))
    else:
        for line in result_lines(name, run):
            env.result(line)
    if run.stopped_by is not None:
        import signal

        interrupt = (KeyboardInterrupt() if run.stopped_by == signal.SIGINT
                     else Terminated(signal.Signals(run.stopped_by).name, run.stopped_by))
        if run_directory is not None:
            note_leftovers(interrupt, f"each context cleaned up after itself; what each did is in "
                                      f"{run_directory / fleet.MANIFEST_NAME}")
        raise interrupt
    error = fleet.failure_error(run)
    if error is not None:
        raise error


def describe_result(result: Any) -> tuple[str, str]:
    """(target, file) of one context's JSON result, whatever the command printed."""
    if isinstance(result, list):  # targets: the controller pods
        leaders = [f"{row.get('namespace')}/{row.get('pod')}" for row in result
                   if isinstance(row, dict) and row.get("leader")]
        return ", ".join(leaders) or f"{len(result)} pods", ""
    if not isinstance(result, dict):
        return "-", ""
    target = result.get("target")
    if isinstance(target, dict):
        target = f"{target.get('namespace')}/{target.get('pod')}"
    if "allowed" in result:  # check
        return str(result.get("namespace") or "-"), "allowed" if result.get("allowed") else "denied"
    files = result.get("files")
    file = (result.get("archive") or (files.get("pprof") if isinstance(files, dict) else None)
            or result.get("directory") or (files[0] if isinstance(files, list) and files else ""))
    return str(target or "-"), str(file or "")


def result_lines(command: str, run: Any) -> list[str]:
    """What stdout gets without ``--json``: the targets of every context as one table, else each context's
    file or folder."""
    if command == "targets":
        table: list[tuple[str, ...]] = [
            ("CONTEXT", "NAMESPACE", "POD", "READY", "LEADER", "PPROF", "VERSION", "INSTALL")
        ]
        for outcome in run.outcomes:
            for row in outcome.result if outcome.ok and isinstance(outcome.result, list) else ():
                install = row.get("install") if isinstance(row.get("install"), dict) else {}
                table.append((outcome.context, str(row.get("namespace")), str(row.get("pod")),
                              "yes" if row.get("ready") else "no", "*" if row.get("leader") else "",
                              str(row.get("pprofAddress") or "profiling off"), str(row.get("imageTag")),
                              f"{install.get('name', '-')} ({install.get('scope', '?')})"))
        return format_table(table) if len(table) > 1 else []
    lines = []
    for outcome in run.outcomes:
        if outcome.ok:
            _, file = describe_result(outcome.result)
            lines.append(f"{outcome.context}\t{file}" if file else outcome.context)
    return lines


def format_table(rows: list[tuple[str, ...]]) -> list[str]:
    """Aligned columns; every cell made one safe terminal line (context names and errors come from outside)."""
    rows = [tuple(terminal(cell) for cell in row) for row in rows]
    widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]))]
    return ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() for row in rows]
