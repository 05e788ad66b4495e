"""Command-line entry point: the click group, ``--version``, ``--debug``, and the one error boundary of the program.

Each command module registers its commands here; they parse flags into plain values, call the application layer
and leave every failure to ``ErrorBoundaryGroup``, which prints one line plus a hint and exits with the error's
code. SIGTERM and SIGHUP are turned into an exception in the main thread, so they clean up as Ctrl-C does.
"""

from __future__ import annotations

import contextlib
import re
import signal
import threading
import traceback
from collections.abc import Iterator
from typing import Any

import click

from kubectl_rollouts_profile import __version__
from kubectl_rollouts_profile.environment import Environment
from kubectl_rollouts_profile.errors import RolloutsProfileError, Terminated

REPORT_URL = "https://github.com/argoproj-labs/kubectl-rollouts-profile/issues"
# Credentials that can sit in an exception's text: headers, URL user info, token-like query or JSON fields.
_SECRET_PATTERNS = (
    re.compile(r"(?i)(bearer|basic)\s+[^\s'\"\\]+"),
    re.compile(r"(?i)((?:authorization|x-api-key|cookie)['\"]?\s*[:=]\s*['\"]?)[^'\"\n,}]+"),
    # A value of 8 characters or more: "SSO Token: Token for ..." is prose, not a credential.
    re.compile(r"(?i)((?:token|password|secret|client-key-data|key)['\"]?\s*[:=]\s*['\"]?)[^\s'\",}&]{8,}"),
    re.compile(r"(?i)(://)[^/@\s]+@"),
)


def mask_secrets(text: str) -> str:
    """``text`` with anything that looks like a credential replaced by ``***``."""
    text = _SECRET_PATTERNS[0].sub(lambda m: f"{m.group(1)} ***", text)
    for pattern in _SECRET_PATTERNS[1:3]:
        text = pattern.sub(lambda m: f"{m.group(1)}***", text)
    return _SECRET_PATTERNS[3].sub(r"\1***@", text)


@contextlib.contextmanager
def termination_signals() -> Iterator[None]:
    """While the block runs, SIGTERM and SIGHUP raise ``Terminated`` in the main thread (elsewhere: unchanged)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def terminate(signal_number: int, _frame: Any) -> None:
        raise Terminated(signal.Signals(signal_number).name, signal_number)

    previous = {number: signal.signal(number, terminate) for number in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


class ErrorBoundaryGroup(click.Group):
    """Maps the project's exceptions, Ctrl-C and termination signals to a one-line message, a hint and the exit
    code; anything unexpected to one line naming the exception type (the traceback only with ``--debug``, with
    credentials masked) and never a raw message, which could carry a header or a URL with a token."""

    def invoke(self, ctx: click.Context) -> Any:
        with termination_signals():
            try:
                return super().invoke(ctx)
            except RolloutsProfileError as error:
                env = _env(ctx)
                env.message(f"error: {mask_secrets(str(error))}")
                if error.hint:
                    env.message(f"hint: {error.hint}")
                ctx.exit(error.exit_code)
            except Terminated as error:
                _env(ctx).message(f"terminated by {error.signal_name}: stopped and cleaned up")
                ctx.exit(error.exit_code)
            except KeyboardInterrupt:
                click.echo("interrupted", err=True)
                ctx.exit(130)
            except (click.exceptions.Exit, click.ClickException, click.exceptions.Abort):
                raise
            except Exception as error:  # a bug: say so in one line, never with the raw text
                env = _env(ctx)
                if ctx.meta.get("debug"):
                    env.message(mask_secrets("".join(traceback.format_exception(error))).rstrip())
                env.message(f"error: unexpected {type(error).__name__} (a bug in kubectl-rollouts-profile)")
                env.message(f"hint: please report it at {REPORT_URL}; run again with --debug for the details "
                            "(credentials are masked)")
                ctx.exit(1)


def _env(ctx: click.Context) -> Environment:
    return ctx.obj if isinstance(ctx.obj, Environment) else Environment()


CONTEXT_SETTINGS = {"help_option_names": ["-h", "--help"], "max_content_width": 110}


@click.group(cls=ErrorBoundaryGroup, context_settings=CONTEXT_SETTINGS)
@click.version_option(__version__, "--version", prog_name="kubectl-rollouts-profile")
@click.option("--debug", is_flag=True, help="On an unexpected error, print the traceback (credentials masked).")
@click.pass_context
def main(ctx: click.Context, debug: bool) -> None:
    """Capture Go pprof profiles from the Argo Rollouts controller (the leader replica) and make them readable.

    \b
    Examples:
      kubectl rollouts-profile cpu --seconds 30
      kubectl rollouts-profile heap --json
      kubectl rollouts-profile check --serviceaccount ops/runbook
      kubectl rollouts-profile convert cpu.pb.gz --format top
    """
    if not isinstance(ctx.obj, Environment):
        ctx.obj = Environment()
    ctx.meta["debug"] = debug


def _register() -> None:
    from kubectl_rollouts_profile.cli import (
        analysis_cmds,
        capture_cmds,
        cluster_cmds,
        diagnose_cmds,
        runbook_cmds,
        view_cmds,
    )

    for module in (capture_cmds, cluster_cmds, view_cmds, runbook_cmds, analysis_cmds, diagnose_cmds):
        module.register(main)


_register()


def run() -> None:  # pragma: no cover - thin wrapper used by ``python -m``
    main(prog_name="kubectl rollouts-profile")


if __name__ == "__main__":  # pragma: no cover
    run()
