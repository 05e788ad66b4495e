"""The load guard's flags, shared by the commands that sample the controller for a while (cpu, trace, the goroutine
trend, bundle, diagnose), and ``load_guard`` that turns them into a frozen ``LoadGuard``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from kubectl_rollouts_profile.cli.params import with_options
from kubectl_rollouts_profile.errors import UsageError
from kubectl_rollouts_profile.loadguard import OVERRIDE_FLAG, SHORT_CAPTURE_SECONDS, LoadGuard, parse_thresholds

LOAD_OPTION_NAMES = ("metrics_port", "metrics_url", "ignore_load", "load_thresholds")


def load_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """Add the load guard's flags to a click command (they arrive as keyword arguments; see ``load_guard``)."""
    options = [
        click.option(
            "--metrics-port",
            type=click.IntRange(1, 65535),
            metavar="PORT",
            help="The controller's metrics port in the pod, read for its load before sampling (default: its "
            "--metricsport, else 8090).",
        ),
        click.option(
            "--metrics-url",
            metavar="URL",
            help="With --url: the metrics endpoint to read the load from (without it, --url skips the load check).",
        ),
        click.option(
            OVERRIDE_FLAG,
            "ignore_load",
            is_flag=True,
            help=f"Sample for long even when the controller is under high load (by default only captures of at most "
            f"{SHORT_CAPTURE_SECONDS}s go ahead then, and longer sampling exits 6).",
        ),
        click.option(
            "--load-threshold",
            "load_thresholds",
            multiple=True,
            metavar="KEY=VALUE",
            help="Where high load starts: cpu=PERCENT of the CPU limit (else request; default 80), goroutines=N "
            "(default 10000), queue=N work queue items (default 1000). Repeatable or comma-separated.",
        ),
    ]
    return with_options(options, command)


def load_guard(url: str | None, options: dict[str, Any]) -> LoadGuard | None:
    """Pop the load flags from ``options``; None when there is nothing to read (``--url`` without
    ``--metrics-url``). Usage errors are raised here, before anything is contacted."""
    metrics_port, metrics_url = options.pop("metrics_port", None), options.pop("metrics_url", None)
    ignore, thresholds = options.pop("ignore_load", False), parse_thresholds(options.pop("load_thresholds", ()))
    if url is not None and metrics_port is not None:
        raise UsageError("--metrics-port is a port in the controller pod; with --url give --metrics-url",
                         hint="e.g. --metrics-url http://127.0.0.1:8090/metrics")
    if url is None and metrics_url is not None:
        raise UsageError("--metrics-url goes with --url; through the cluster the metrics port is used",
                         hint="use --metrics-port to name the port in the pod")
    if url is not None and metrics_url is None:
        return None
    return LoadGuard(metrics_url=metrics_url, metrics_port=metrics_port, thresholds=thresholds, ignore=ignore)
