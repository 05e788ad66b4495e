"""Command-line entry point: the click group, ``--version``, ``--debug``, and the one error boundary of the program.

Each command module registers its commands here when one of them is first looked up (``COMMANDS``); they parse
flags into plain values, call the application layer and leave every failure to ``ErrorBoundaryGroup``, which
prints one line plus a hint and exits with the error's code. SIGTERM and SIGHUP (where the platform has it: not on
Windows) are turned into an exception in the main thread, so they clean up as Ctrl-C does. ``run`` is the one entry
point of the pip script, the frozen executable and ``python -m``.
"""

from __future__ import annotations

import _thread
import contextlib
import importlib
import os
import re
import signal
import sys
import threading
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click

from kubectl_rollouts_profile import __version__
from kubectl_rollouts_profile.environment import Environment
from kubectl_rollouts_profile.errors import RolloutsProfileError, Terminated, leftovers
from kubectl_rollouts_profile.kinds import KINDS

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
    """While the block runs, SIGTERM and SIGHUP (where it exists) raise ``Terminated`` in the main thread (elsewhere:
    unchanged)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def terminate(signal_number: int, frame: Any) -> None:
        if _in_finalizer(frame):
            # An exception raised inside a __del__ (a socket being collected, say) is printed and swallowed, and
            # the signal would be lost: deliver it again in a moment, once the finalizer has returned.
            timer = threading.Timer(0.05, _thread.interrupt_main, (signal_number,))
            timer.daemon = True
            timer.start()
            return
        raise Terminated(signal.Signals(signal_number).name, signal_number)

    previous = {number: signal.signal(number, terminate) for number in termination_signal_numbers()}
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


def termination_signal_numbers() -> tuple[int, ...]:
    """SIGTERM, and SIGHUP where the platform has one (Windows has none)."""
    hangup = getattr(signal, "SIGHUP", None)
    return (signal.SIGTERM,) if hangup is None else (signal.SIGTERM, hangup)


def _in_finalizer(frame: Any) -> bool:
    while frame is not None:
        if frame.f_code.co_name == "__del__":
            return True
        frame = frame.f_back
    return False


# Every command: the module that registers it and the first paragraph of its help. ``--help`` lists the commands
# from this table, and a command's module (with everything it imports) is loaded only when that command is looked
# up to run: the startup path stays the cost of click. tests/test_cli_startup.py holds the table to the commands.
_CAPTURE_HELP = "Capture the {name} profile: {description}."
COMMANDS: dict[str, tuple[str, str]] = {
    **{kind.name: ("capture_cmds", _CAPTURE_HELP.format(name=kind.name, description=kind.description))
       for kind in KINDS.values()},
    "targets": ("cluster_cmds", "List the Argo Rollouts controller pods: ready, leader, pprof address, image tag, "
                                "restarts, age."),
    "check": ("cluster_cmds", "Check the RBAC permissions a capture needs (exit 4 when one is missing)."),
    "rbac": ("cluster_cmds", "Print a least-privilege Role + RoleBinding (YAML) that lets a ServiceAccount capture "
                             "profiles."),
    "forward": ("cluster_cmds", "Hold a port-forward to the leader's pprof port and print its local URL; stop with "
                                "Ctrl-C."),
    "convert": ("view_cmds", "Convert a saved pprof FILE (from this tool or any Go program) into another format."),
    "diff": ("view_cmds", "Show what grew and what shrank from BASE to NEW (heap growth, goroutine leak)."),
    "bundle": ("runbook_cmds", "Collect everything for an incident into one archive {pod}-bundle-{UTC time}.tar.gz "
                               "(mode 0600)."),
    "diagnose": ("diagnose_cmds", "Run the captures a SYMPTOM needs and write the incident report with its findings."),
    "analyze": ("analysis_cmds", "Say what is wrong: findings (GC share, heap and goroutine growth, decoding CPU, "
                                 "work queue backlog,\nreconcile latency, too few samples) and where the time or "
                                 "memory went, by subsystem."),
}  # fmt: skip
HIDDEN_COMMANDS = {"__complete": "runbook_cmds"}  # shell completion's entry point, never listed
COMMAND_ARGS_KEY = "command_args"  # ctx.meta: the command's own arguments as typed (see cli/fleet_options.py)


class LazyCommandGroup(click.Group):
    """Loads a command's module on first lookup (``COMMANDS``); lists commands without loading any."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.loaded_modules: set[str] = set()

    def load_commands(self, module_name: str) -> None:
        """Import one command module and let it add its commands to this group (once per module)."""
        if module_name not in self.loaded_modules:
            self.loaded_modules.add(module_name)
            importlib.import_module(f"kubectl_rollouts_profile.cli.{module_name}").register(self)

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        # The command's arguments as typed, for a run over several contexts that starts the command once per context.
        ctx.meta[COMMAND_ARGS_KEY] = list(args[1:])
        return super().resolve_command(ctx, args)

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*self.commands, *COMMANDS, *HIDDEN_COMMANDS})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        module_name = COMMANDS[cmd_name][0] if cmd_name in COMMANDS else HIDDEN_COMMANDS.get(cmd_name)
        if cmd_name not in self.commands and module_name is not None:
            self.load_commands(module_name)
        return self.commands.get(cmd_name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        names = sorted({*COMMANDS, *(name for name, command in self.commands.items() if not command.hidden)})
        limit = formatter.width - 6 - max(map(len, names))
        rows = []
        for name in names:
            loaded = self.commands.get(name)
            # A command not loaded yet is described by a stand-in holding its help: click shortens it the same way.
            command = loaded or click.Command(name, help=COMMANDS[name][1])
            rows.append((name, command.get_short_help_str(limit)))
        with formatter.section("Commands"):
            formatter.write_dl(rows)


class ErrorBoundaryGroup(LazyCommandGroup):
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
                if leftovers(error):
                    env.message(f"note: {leftovers(error)}")
                if error.hint:
                    env.message(f"hint: {error.hint}")
                ctx.exit(error.exit_code)
            except Terminated as error:
                done = f"stopped; {leftovers(error)}" if leftovers(error) else "stopped and cleaned up"
                _env(ctx).message(f"terminated by {error.signal_name}: {done}")
                ctx.exit(error.exit_code)
            except KeyboardInterrupt as error:
                _env(ctx).message(f"interrupted: {leftovers(error)}" if leftovers(error) else "interrupted")
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


USAGE_NAME = "kubectl rollouts-profile"
EXECUTABLE_NAME = "kubectl-rollouts_profile"
# Named here, not derived: click would derive it from the program name, which differs between the pip script, the
# frozen executable ("kubectl rollouts-profile" has a space) and ``python -m``.
COMPLETE_VAR = "_KUBECTL_ROLLOUTS_PROFILE_COMPLETE"


# kubectl (>= 1.26) completes `kubectl rollouts-profile …` by running `kubectl_complete-rollouts_profile WORDS…`
# from PATH: pip installs that name as a second script, krew users link it to the plugin (see .krew.yaml).
COMPLETION_HELPER_NAME = "kubectl_complete-rollouts_profile"


def run(args: list[str] | None = None) -> None:
    """The one entry point: pip's console scripts, the frozen executable of the krew archive and ``python -m``.

    Usage lines say ``kubectl rollouts-profile``; a shell completion script completes the executable the shell
    runs (``kubectl-rollouts_profile``), the same for all three. Run under the name of kubectl's completion helper
    (a script or a link of that name), it answers kubectl's completion request.
    """
    if args is None and Path(sys.argv[0]).stem == COMPLETION_HELPER_NAME:
        args = ["__complete", *sys.argv[1:]]
    prog_name = EXECUTABLE_NAME if os.environ.get(COMPLETE_VAR) else USAGE_NAME
    main(args, prog_name=prog_name, complete_var=COMPLETE_VAR)


if __name__ == "__main__":  # pragma: no cover
    run()
