"""Incident commands (bundle) and the hidden ``__complete`` command that kubectl's plugin
completion calls (through the ``kubectl_complete-rollouts_profile`` helper shipped with the plugin).
"""

from __future__ import annotations

from typing import Any

import click

from kubectl_rollouts_profile.cli.cluster_options import cluster_options, cluster_request
from kubectl_rollouts_profile.cli.load_options import load_guard, load_options
from kubectl_rollouts_profile.cli.params import Duration
from kubectl_rollouts_profile.environment import Environment
from kubectl_rollouts_profile.errors import PartialResult, UsageError
from kubectl_rollouts_profile.pipeline import Destination
from kubectl_rollouts_profile.runbook import bundle
from kubectl_rollouts_profile.safe import dumps

# Cobra's completion directives (kubectl reads the last line ":<n>").
_COBRA_DEFAULT = 0
_COBRA_NO_FILE = 4
_COBRA_FILTER_DIRS = 16


def cobra_completions(group: click.Group, words: list[str]) -> list[str]:
    """Answer a kubectl plugin completion request in Cobra's ``__complete`` format.

    ``words`` are what follows ``kubectl rollouts-profile``; the last one is the word being completed ("" for a new
    word). Returns the output lines: one candidate per line (``value<TAB>help``), then ``:<directive>``.
    """
    from click.shell_completion import ShellComplete

    from kubectl_rollouts_profile.cli import COMPLETE_VAR, USAGE_NAME

    args, incomplete = (words[:-1], words[-1]) if words else ([], "")
    completer = ShellComplete(group, {}, USAGE_NAME, COMPLETE_VAR)
    items = completer.get_completions(args, incomplete)
    lines = [f"{item.value}\t{item.help}" if item.help else str(item.value) for item in items
             if item.type == "plain"]
    kinds = {item.type for item in items}
    directive = _COBRA_DEFAULT if "file" in kinds else _COBRA_FILTER_DIRS if "dir" in kinds else _COBRA_NO_FILE
    return [*lines, f":{directive}"]


def bundle_command(env: Environment, seconds: int, cooldown: float, output: str | None, output_dir: str | None,
                   force: bool, as_json: bool, **options: Any) -> None:
    if output is not None and output_dir is not None:
        raise UsageError("-o and --output-dir cannot be used together", hint="-o names the exact file")
    if output == "-":
        raise UsageError("a bundle is an archive file; it is not written to stdout", hint="use -o FILE")
    spec = bundle.BundleSpec(seconds=seconds, cooldown_seconds=cooldown,
                             destination=Destination.from_flags(output, output_dir, force=force, stdout=env.stdout),
                             load=load_guard(None, options))

    def report(item: bundle.BundleItem) -> None:
        state = f"failed: {item.error}" if item.error else item.note or f"{item.size} bytes"
        env.message(f"  {item.name}: {state}")

    outcome = bundle.run_bundle(cluster_request(**options, as_json=as_json), spec, env, on_item=report)
    report_path = str(outcome.report) if outcome.report else None
    if as_json:
        env.result(dumps({"archive": str(outcome.path), "report": report_path, **outcome.manifest}))
    else:
        env.result(str(outcome.path))  # one line: runbooks read the archive's path from stdout
    if report_path:
        env.message(f"report: {report_path}")
    for warning in outcome.manifest["warnings"]:
        env.message(f"warning: {warning}")
    env.message(f"bundle: {len(outcome.manifest['items']) - len(outcome.failed)} items in {outcome.path}")
    if outcome.failed:
        raise PartialResult(f"bundle is partial: {len(outcome.failed)} item(s) failed: {', '.join(outcome.failed)}",
                            hint=f"the archive {outcome.path} holds the rest; manifest.json says why each failed")


def register(group: click.Group) -> None:
    """Add this module's commands to the top-level group."""

    @group.command("bundle")
    @click.option("--seconds", type=click.IntRange(1, 300), default=30, show_default=True,
                  help="CPU capture duration.")
    @click.option("--cooldown", type=Duration(), default="60s", show_default=True,
                  help="Refuse to run sooner than this after the last cpu/trace capture of the controller.")
    @click.option("-o", "--output", metavar="PATH", help="Write the archive to exactly this file.")
    @click.option("--output-dir", metavar="DIR", help="Directory for the default archive name (default: current).")
    @click.option("--force", is_flag=True, help="Replace an existing archive.")
    @click.option("--json", "as_json", is_flag=True, help="Print the manifest (with the archive path) as JSON.")
    @load_options
    @cluster_options
    @click.pass_obj
    def bundle_cmd(env: Environment, **options: Any) -> None:
        """Collect everything for an incident into one archive {pod}-bundle-{UTC time}.tar.gz (mode 0600).

        \b
        goroutine (pprof + debug=2 text) and heap before the CPU capture, the CPU profile, heap and goroutine
        after it, allocs, block/mutex when not empty, a top table for each, the controller's metrics, the pod's
        spec and status (env values and secret references redacted), its events, the leader Lease and versions.
        Takes the capture lock. Exit 0: complete; 10: partial (see manifest.json); 6: lock held, cooldown, or the
        controller under high load (--ignore-load overrides).
        """
        bundle_command(env, **options)

    @group.command(
        "__complete",
        hidden=True,
        context_settings={"ignore_unknown_options": True, "allow_extra_args": True, "help_option_names": []},
    )
    @click.argument("words", nargs=-1, type=click.UNPROCESSED)
    def complete(words: tuple[str, ...]) -> None:
        for line in cobra_completions(group, list(words)):
            click.echo(line)

