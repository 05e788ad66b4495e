"""Incident commands (bundle) and the hidden ``__complete`` command that kubectl's plugin
completion calls (through the ``kubectl_complete-rollouts_profile`` helper shipped with the plugin).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from kubectl_rollouts_profile.cli.cluster_options import cluster_options, cluster_request
from kubectl_rollouts_profile.cli.params import Duration
from kubectl_rollouts_profile.environment import Environment
from kubectl_rollouts_profile.errors import UsageError

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

    args, incomplete = (words[:-1], words[-1]) if words else ([], "")
    completer = ShellComplete(group, {}, "kubectl rollouts-profile", "_KUBECTL_ROLLOUTS_PROFILE_COMPLETE")
    items = completer.get_completions(args, incomplete)
    lines = [f"{item.value}\t{item.help}" if item.help else str(item.value) for item in items
             if item.type == "plain"]
    kinds = {item.type for item in items}
    directive = _COBRA_DEFAULT if "file" in kinds else _COBRA_FILTER_DIRS if "dir" in kinds else _COBRA_NO_FILE
    return [*lines, f":{directive}"]


def bundle_command(env: Environment, seconds: int, cooldown: float, output: str | None, output_dir: str | None,
                   force: bool, as_json: bool, **options: Any) -> None:
    import tempfile
    from datetime import datetime, timezone

    from kubectl_rollouts_profile import deliver
    from kubectl_rollouts_profile.capture import fetch_text
    from kubectl_rollouts_profile.cluster import connect
    from kubectl_rollouts_profile.cluster.locate import lease_names
    from kubectl_rollouts_profile.cluster.tunnel import open_tunnel
    from kubectl_rollouts_profile.errors import PartialResult
    from kubectl_rollouts_profile.runbook import bundle
    from kubectl_rollouts_profile.runbook.lock import LOCK_RULES, capture_lock, lease_duration

    if output is not None and output_dir is not None:
        raise UsageError("-o and --output-dir cannot be used together", hint="-o names the exact file")
    request = cluster_request(**options)
    created = datetime.now(timezone.utc)

    def report(item: bundle.BundleItem) -> None:
        state = f"failed: {item.error}" if item.error else item.note or f"{item.size} bytes"
        env.message(f"  {item.name}: {state}")

    with connect(request, env=env, extra_rules=LOCK_RULES) as connection:
        target = connection.target
        path = deliver.output_path(output, output_dir, deliver.default_name(target.pod_name, "bundle", created,
                                                                           ".tar.gz"))
        deliver.check_target(path, force=force)

        def fetch_metrics() -> bytes:
            if target.metrics_port is None:
                raise UsageError("the controller's metrics port is unknown")
            with open_tunnel(connection.config, target.namespace, target.pod_name, target.metrics_port) as url:
                return fetch_text(url, "/metrics")

        collector = bundle.Collector(on_item=report)
        # Snapshots and the cpu capture, plus time for the API reads, bound how long the lock is needed.
        with capture_lock(connection.api, target.namespace, duration_seconds=lease_duration(seconds + 60),
                          timed=True, cooldown_seconds=cooldown), \
                tempfile.TemporaryDirectory(prefix=".rollouts-profile-bundle-", dir=path.parent) as work_dir:
            sources = bundle.BundleSources(
                base_url=connection.base_url, work_dir=Path(work_dir), fetch_metrics=fetch_metrics,
                api=connection.api, namespace=target.namespace, pod_name=target.pod_name,
                image=target.image, lease_names=lease_names(request.instance_id),
            )
            env.message(f"bundle: collecting from {target.namespace}/{target.pod_name} (cpu {seconds}s)")
            bundle.collect(sources, seconds, collector)
        name = path.name.removesuffix(".tar.gz")
        manifest = bundle.build_manifest(collector, name=name, created=created, sources=sources, seconds=seconds)
        written = bundle.write_archive(collector.files, manifest, path, force=force)
    if as_json:
        env.result(json.dumps({"archive": str(written), **manifest}))
    else:
        env.result(str(written))
    env.message(f"bundle: {len(collector.files)} files in {written}")
    if collector.failed:
        names = ", ".join(item.name for item in collector.failed)
        raise PartialResult(f"bundle is partial: {len(collector.failed)} item(s) failed: {names}",
                            hint=f"the archive {written} holds the rest; manifest.json says why each failed")


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
    @cluster_options
    @click.pass_obj
    def bundle(env: Environment, **options: Any) -> None:
        """Collect everything for an incident into one archive {pod}-bundle-{UTC time}.tar.gz (mode 0600).

        \b
        goroutine (pprof + debug=2 text) and heap before the CPU capture, the CPU profile, heap and goroutine
        after it, allocs, block/mutex when not empty, a top table for each, the controller's metrics, the pod's
        spec and status (env values and secret references redacted), its events, the leader Lease and versions.
        Takes the capture lock. Exit 0: complete; 10: partial (see manifest.json); 6: lock held or cooldown.
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


def complete_main() -> None:
    """Entry point of ``kubectl_complete-rollouts_profile``: kubectl passes the words typed after the plugin name."""
    import sys

    from kubectl_rollouts_profile.cli import main

    main(["__complete", *sys.argv[1:]], prog_name="kubectl rollouts-profile")
