"""The project's one exception family.

Every failure a user can meet is a subclass of ``RolloutsProfileError``; each class carries the process exit code
and a one-line "what to do next" hint. The CLI's single error boundary turns them into a stderr line and an exit
status (see ``cli.run``). Exit codes are part of the runbook contract and are documented in the README.
"""

from __future__ import annotations


class RolloutsProfileError(Exception):
    """Base error: ``str(err)`` is the one-line message, ``hint`` what to do next."""

    exit_code = 1
    default_hint = ""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.hint = self.default_hint if hint is None else hint


class UsageError(RolloutsProfileError):
    exit_code = 2
    default_hint = "see --help"


class TargetNotFound(RolloutsProfileError):
    exit_code = 3
    default_hint = "check the namespace (-n) and context, or name the pod with --pod"


class AccessDenied(RolloutsProfileError):
    exit_code = 4
    default_hint = "run `kubectl rollouts-profile rbac` for a Role that grants what is missing"


class ProfilingUnavailable(RolloutsProfileError):
    exit_code = 5
    default_hint = "enable profiling with --enable-pprof-address=:6060 (needs Argo Rollouts >= v1.8.0)"


class TargetBusy(RolloutsProfileError):
    exit_code = 6
    default_hint = "another capture is running against this process; retry when it has finished"


class ConnectionFailed(RolloutsProfileError):
    exit_code = 7
    default_hint = "check that the target is running and reachable, then retry"


class ProfileError(RolloutsProfileError):
    """Bytes that are not a usable profile. The message names the stage that failed."""

    exit_code = 8
    default_hint = "the data is not a valid pprof profile; capture it again"


class OutputError(RolloutsProfileError):
    exit_code = 9
    default_hint = "choose a writable location with --output-dir or -o, or pass --force to replace a file"


class PartialResult(RolloutsProfileError):
    """Some items of a multi-item run (bundle) failed; the others were written."""

    exit_code = 10
    default_hint = "see the manifest for the items that failed"


def note_leftovers(error: BaseException, note: str) -> None:
    """Say, on an error or signal that stops a command, what it left on disk (``kept in DIR with a README``,
    ``its empty directory was removed``): the CLI prints it with the error, instead of "cleaned up"."""
    error.leftovers = note  # type: ignore[attr-defined]


def leftovers(error: BaseException) -> str | None:
    return getattr(error, "leftovers", None)


class Terminated(KeyboardInterrupt):
    """SIGTERM or SIGHUP (``timeout``, a Job's deadline, ``kubectl delete pod``, a closed terminal), raised in the
    main thread so that every cleanup path that Ctrl-C takes runs too: temp files removed, the lock released."""

    def __init__(self, signal_name: str, signal_number: int) -> None:
        super().__init__(signal_name)
        self.signal_name = signal_name
        self.exit_code = 128 + signal_number


def connection_refused(error: BaseException) -> bool:
    """Whether the connection was refused (nothing listening), wherever in ``error``'s chain that happened: requests
    wraps urllib3's error (``args``, ``reason``), which wraps the socket's ``ConnectionRefusedError`` as its cause."""
    seen: set[int] = set()
    pending: list[object] = [error]
    while pending:
        current = pending.pop()
        if not isinstance(current, BaseException) or id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, ConnectionRefusedError):
            return True
        pending += [current.__cause__, current.__context__, getattr(current, "reason", None), *current.args]
    return False
