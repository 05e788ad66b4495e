"""Several clusters at once: run one command against many kubeconfig contexts, a bounded number at a time.

Each context runs as its own child process of the plugin (the same command with ``--context NAME --json``), so it
gets everything a single run has — its own preflight, capture lock, load guard, deadlines, atomic files and signal
cleanup — and the parent holds nothing but each context's small JSON result: memory does not grow with the number
of contexts, profiles go from each child straight to disk. ``run_contexts`` is the runner (a thread per running
child, at most ``parallel``), ``ChildCommand`` the per-context work, and the rest turns outcomes into the summary
table, the JSON object and the exit status.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kubectl_rollouts_profile.errors import PartialResult, RolloutsProfileError
from kubectl_rollouts_profile.safe import dumps

DEFAULT_PARALLEL = 4
# A child that was signalled gets this long to clean up (remove temp files, release its lock) before it is killed.
CHILD_CLEANUP_SECONDS = 60.0
STDERR_TAIL_LINES = 20
MANIFEST_NAME = "fleet.json"
NOT_RUN = -1  # the exit code recorded for a context that a stop kept from starting
# SIGHUP where the platform has one (Windows has none).
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, *((signal.SIGHUP,) if hasattr(signal, "SIGHUP") else ()))
STOP_POLL_SECONDS = 0.2


@dataclass(frozen=True)
class ContextOutcome:
    """How one context's run ended: its exit status, its JSON result (None when it printed none), and on failure
    the child's ``error:`` and ``hint:`` lines."""

    context: str
    exit_code: int
    seconds: float = 0.0
    result: Any = None
    error: str | None = None
    hint: str | None = None
    directory: str | None = None
    messages: tuple[str, ...] = ()  # the last lines the child wrote to stderr

    @property
    def ok(self) -> bool:
        return self.exit_code == 0

    def as_json(self) -> dict[str, Any]:
        return {"context": self.context, "exitCode": self.exit_code, "ok": self.ok, "seconds": round(self.seconds, 3),
                "directory": self.directory, "error": self.error, "hint": self.hint, "result": self.result,
                "messages": list(self.messages)}


@dataclass
class Stop:
    """Set once when the run is stopped (Ctrl-C, SIGTERM, SIGHUP): the signal to pass on to every running child.
    Work registers what to do on a stop; registering after the stop runs it at once."""

    signal_number: int | None = None
    _callbacks: list[Callable[[int], None]] = field(default_factory=list)
    _guard: threading.Lock = field(default_factory=threading.Lock)

    @property
    def stopped(self) -> bool:
        return self.signal_number is not None

    def on_stop(self, callback: Callable[[int], None]) -> None:
        with self._guard:
            number = self.signal_number
            if number is None:
                self._callbacks.append(callback)
        if number is not None:
            callback(number)

    def trigger(self, signal_number: int) -> None:
        with self._guard:
            if self.signal_number is not None:
                return
            self.signal_number = signal_number
            callbacks = list(self._callbacks)
        for callback in callbacks:
            callback(signal_number)


@dataclass(frozen=True)
class FleetRun:
    outcomes: tuple[ContextOutcome, ...]
    stopped_by: int | None = None  # the signal that stopped the run, if one did
    seconds: float = 0.0  # from the first context's start to the last one's end

    @property
    def failed(self) -> tuple[ContextOutcome, ...]:
        return tuple(outcome for outcome in self.outcomes if not outcome.ok)

    @property
    def exit_code(self) -> int:
        """0 when every context succeeded; the common code when all failed the same way; else 10 (partial)."""
        failed = self.failed
        if not failed:
            return 0
        codes = {outcome.exit_code for outcome in failed}
        if len(failed) == len(self.outcomes) and len(codes) == 1 and NOT_RUN not in codes:
            return failed[0].exit_code
        return PartialResult.exit_code

    def as_json(self, command: str, directory: str | None) -> dict[str, Any]:
        return {
            "command": command,
            "directory": directory,
            "exitCode": self.exit_code if self.stopped_by is None else 128 + self.stopped_by,
            "stoppedBy": signal.Signals(self.stopped_by).name if self.stopped_by else None,
            "seconds": round(self.seconds, 3),
            "ok": [outcome.context for outcome in self.outcomes if outcome.ok],
            "failed": [{"context": outcome.context, "exitCode": outcome.exit_code, "error": outcome.error}
                       for outcome in self.failed],
            "contexts": [outcome.as_json() for outcome in self.outcomes],
        }


def run_contexts(
    contexts: Sequence[str],
    work: Callable[[str, Stop], ContextOutcome],
    *,
    parallel: int = DEFAULT_PARALLEL,
    progress: Callable[[ContextOutcome, int, int], None] = lambda outcome, done, total: None,
) -> FleetRun:
    """Run ``work(context, stop)`` for each context, at most ``parallel`` at once, in the order given; report each
    outcome as it arrives. Ctrl-C, SIGTERM or SIGHUP stops the run: contexts not started are not started, running
    ones are told through ``stop`` (their work passes the signal on) and waited for; the outcomes are returned with
    ``stopped_by`` set, and the caller re-raises.

    While it runs, those signals only note themselves (when called from the main thread, where handlers live): an
    exception raised at an arbitrary point could leave the pool or a future's lock half-taken, or lose a context
    that had just started. The loop looks at the note between waits of at most ``STOP_POLL_SECONDS``."""
    stop = Stop()
    outcomes: dict[str, ContextOutcome] = {}
    total = len(contexts)
    noted: list[int] = []

    def guarded(context: str) -> ContextOutcome:
        if stop.stopped:
            return ContextOutcome(context, NOT_RUN, error="not started: the run was stopped")
        return work(context, stop)

    started = time.monotonic()
    with _signals_noted(noted):
        pool = ThreadPoolExecutor(max_workers=max(1, parallel), thread_name_prefix="context")
        try:
            futures = {pool.submit(guarded, context): context for context in contexts}
            pending = set(futures)
            while pending:
                done, pending = wait(pending, timeout=STOP_POLL_SECONDS, return_when=FIRST_COMPLETED)
                if noted and not stop.stopped:
                    stop.trigger(noted[0])
                for future in done:
                    outcome = outcomes[futures[future]] = future.result()
                    if outcome.exit_code != NOT_RUN:
                        progress(outcome, sum(o.exit_code != NOT_RUN for o in outcomes.values()), total)
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
    ordered = tuple(outcomes.get(context) or ContextOutcome(context, NOT_RUN, error="not started: the run was stopped")
                    for context in contexts)
    return FleetRun(ordered, stopped_by=stop.signal_number, seconds=time.monotonic() - started)


@contextmanager
def _signals_noted(noted: list[int]) -> Iterator[None]:
    """The stop signals append their number to ``noted`` instead of raising (main thread only; elsewhere a no-op)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {number: signal.signal(number, lambda number, frame: noted.append(number)) for number in STOP_SIGNALS}
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


@dataclass(frozen=True)
class ChildCommand:
    """The per-context work: the plugin itself run as a child with ``--context NAME --json`` (and the context's own
    output folder), its stdout read as the JSON result and its stderr's ``error:``/``hint:`` lines kept."""

    program: tuple[str, ...]  # how to start the plugin (see ``plugin_program``)
    group_args: tuple[str, ...]  # options before the command name (``--debug``)
    command: str
    args: tuple[str, ...]  # the command's own arguments, without the fleet's
    environ: Mapping[str, str]
    directories: Mapping[str, Path] = field(default_factory=dict)  # context -> its output folder

    def argv(self, context: str) -> list[str]:
        argv = [*self.program, *self.group_args, self.command, *self.args, "--context", context, "--json"]
        if context in self.directories:
            argv += ["--output-dir", str(self.directories[context])]
        return argv

    def __call__(self, context: str, stop: Stop) -> ContextOutcome:
        directory = self.directories.get(context)
        if directory is not None:
            directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        started = time.monotonic()
        child = subprocess.Popen(
            self.argv(context), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            env=dict(self.environ), text=True, errors="replace",
            # Its own session (process group on Windows): a Ctrl-C at the terminal reaches the parent only, which
            # passes it on once.
            **_own_session(),
        )
        stop.on_stop(lambda number: _signal(child, number))
        try:
            stdout, stderr = child.communicate()
        except BaseException:
            child.kill()
            child.communicate()
            raise
        if directory is not None and child.returncode != 0 and not any(directory.iterdir()):
            directory.rmdir()  # a context that wrote nothing leaves no folder behind
            directory = None
        return outcome_of(context, child.returncode, stdout, stderr, seconds=time.monotonic() - started,
                          directory=str(directory) if directory is not None else None)


def _own_session() -> dict[str, Any]:
    if os.name == "nt":
        return {"creationflags": getattr(subprocess, "CREATE_NEW_PROCESS_GROUP", 0)}
    return {"start_new_session": True}


def _signal(child: subprocess.Popen, number: int) -> None:
    if child.poll() is None:
        child.send_signal(number)
        watchdog = threading.Timer(CHILD_CLEANUP_SECONDS, _kill_if_running, (child,))
        watchdog.daemon = True
        watchdog.start()


def _kill_if_running(child: subprocess.Popen) -> None:
    if child.poll() is None:
        child.kill()


def outcome_of(context: str, exit_code: int, stdout: str, stderr: str, *, seconds: float = 0.0,
               directory: str | None = None) -> ContextOutcome:
    """A child's exit status and streams as a ``ContextOutcome`` (a signal's negative status as 128 + N)."""
    lines = [line for line in stderr.splitlines() if line.strip()]
    error = next((line[len("error: "):] for line in reversed(lines) if line.startswith("error: ")), None)
    hint = next((line[len("hint: "):] for line in reversed(lines) if line.startswith("hint: ")), None)
    if error is None and lines and exit_code != 0:
        error = lines[-1]
    try:
        result = json.loads(stdout) if stdout.strip() else None
    except ValueError:
        result = None
    return ContextOutcome(
        context=context, exit_code=128 - exit_code if exit_code < 0 else exit_code, seconds=seconds,
        result=result, error=error if exit_code != 0 else None, hint=hint if exit_code != 0 else None,
        directory=directory, messages=tuple(lines[-STDERR_TAIL_LINES:]),
    )


def plugin_program() -> tuple[str, ...]:
    """How to start the plugin again: the frozen executable itself (krew's one-folder build), else this Python
    with ``-m``."""
    if getattr(sys, "frozen", False):
        return (sys.executable,)
    return (sys.executable, "-m", "kubectl_rollouts_profile")


def context_folders(contexts: Sequence[str], base: Path) -> dict[str, Path]:
    """One folder per context under ``base``, named after it (characters a file name cannot hold become ``_``:
    an EKS context is an ARN with ``:`` and ``/``); names that collide get ``-2``, ``-3``."""
    folders: dict[str, Path] = {}
    taken: set[str] = set()
    for context in contexts:
        name = re.sub(r"[^A-Za-z0-9._-]+", "_", context).strip("._") or "context"
        candidate, number = name, 1
        while candidate in taken:
            number += 1
            candidate = f"{name}-{number}"
        taken.add(candidate)
        folders[context] = base / candidate
    return folders


def without_options(args: Sequence[str], *, valued: Sequence[str], flags: Sequence[str]) -> list[str]:
    """``args`` without the options in ``valued`` (``--opt V`` and ``--opt=V``) and ``flags``; ``--`` ends it."""
    kept: list[str] = []
    index = 0
    while index < len(args):
        word = args[index]
        if word == "--":
            kept.extend(args[index:])
            break
        if word in valued:
            index += 2
            continue
        if word in flags or any(word.startswith(option + "=") for option in valued):
            index += 1
            continue
        kept.append(word)
        index += 1
    return kept


def summary_rows(run: FleetRun, describe: Callable[[Any], tuple[str, str]]) -> list[tuple[str, ...]]:
    """The summary table: context, target, result, and the file (or what failed). ``describe(result)`` gives a
    successful result's (target, file)."""
    rows: list[tuple[str, ...]] = [("CONTEXT", "TARGET", "RESULT", "FILE OR ERROR")]
    for outcome in run.outcomes:
        if outcome.exit_code == NOT_RUN:
            rows.append((outcome.context, "-", "not run", outcome.error or ""))
            continue
        target, file = describe(outcome.result) if outcome.result is not None else ("-", "")
        if outcome.ok:
            rows.append((outcome.context, target or "-", "ok", file))
        else:
            rows.append((outcome.context, target or "-", f"exit {outcome.exit_code}", outcome.error or ""))
    return rows


def failure_error(run: FleetRun) -> RolloutsProfileError | None:
    """The error the whole run ends with: None when every context succeeded; else one naming each failed context
    with its own exit code, carrying the run's exit code."""
    failed = run.failed
    if not failed:
        return None
    named = ", ".join(f"{outcome.context} (exit {outcome.exit_code})" if outcome.exit_code != NOT_RUN
                      else f"{outcome.context} (not run)" for outcome in failed)
    message = f"{len(failed)} of {len(run.outcomes)} contexts failed: {named}"
    error = RolloutsProfileError(message, hint="each context's error is in the summary table above (--json: "
                                               "contexts[].error)")
    error.exit_code = run.exit_code
    return error


def write_manifest(directory: Path, document: dict[str, Any]) -> Path:
    """The run's ``fleet.json`` (mode 0600, written whole then renamed): what ``analyze`` reads back."""
    path = directory / MANIFEST_NAME
    temporary = directory / f".{MANIFEST_NAME}.{os.getpid()}.tmp"
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(dumps(document, indent=2))
    os.replace(temporary, path)
    return path
