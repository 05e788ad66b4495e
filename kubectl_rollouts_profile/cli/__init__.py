"""Command-line entry point: the click group, ``--version``, and the one error boundary of the program.

Each command module registers its commands here; they parse flags into plain values, call the stage functions
and leave every failure to ``ErrorBoundaryGroup``, which prints one line plus a hint and exits with the error's code.
"""

from __future__ import annotations

from typing import Any

import click

from kubectl_rollouts_profile import __version__
from kubectl_rollouts_profile.environment import Environment
from kubectl_rollouts_profile.errors import RolloutsProfileError


class ErrorBoundaryGroup(click.Group):
    """Maps the project's exceptions (and Ctrl-C) to a one-line message, a hint, and the exit code."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except RolloutsProfileError as error:
            env = ctx.obj if isinstance(ctx.obj, Environment) else Environment()
            env.message(f"error: {error}")
            if error.hint:
                env.message(f"hint: {error.hint}")
            ctx.exit(error.exit_code)
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            ctx.exit(130)


CONTEXT_SETTINGS = {"help_option_names": ["-h", "--help"], "max_content_width": 110}


@click.group(cls=ErrorBoundaryGroup, context_settings=CONTEXT_SETTINGS)
@click.version_option(__version__, "--version", prog_name="kubectl-rollouts-profile")
@click.pass_context
def main(ctx: click.Context) -> None:
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


def _register() -> None:
    from kubectl_rollouts_profile.cli import analysis_cmds, capture_cmds, cluster_cmds, runbook_cmds, view_cmds

    for module in (capture_cmds, cluster_cmds, view_cmds, runbook_cmds, analysis_cmds):
        module.register(main)


_register()


def run() -> None:  # pragma: no cover - thin wrapper used by ``python -m``
    main(prog_name="kubectl rollouts-profile")


if __name__ == "__main__":  # pragma: no cover
    run()
