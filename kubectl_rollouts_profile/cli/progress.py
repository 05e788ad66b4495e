"""A capture's progress on stderr: a countdown bar on a terminal; on a log, one line at the start and one at the
end."""

from __future__ import annotations

from collections.abc import Callable

from kubectl_rollouts_profile.environment import Environment

BAR_WIDTH = 30


def countdown(env: Environment, kind: str) -> Callable[[str, float, float], None]:
    """A countdown bar on a terminal; on a log, one line at the start and one at the end."""
    interactive = env.stderr_isatty

    def report(event: str, elapsed: float, total: float) -> None:
        if event == "start":
            what = f"for {int(total)}s" if total else "(snapshot)"
            if not interactive:
                env.message(f"capturing {kind} profile {what}")
        elif event == "tick" and interactive and total:
            done = min(elapsed / total, 1.0)
            bar = "#" * int(done * BAR_WIDTH) + "-" * (BAR_WIDTH - int(done * BAR_WIDTH))
            left = max(total - elapsed, 0)
            env.stderr.write(f"\rcapturing {kind} [{bar}] {left:4.0f}s left ")
            env.stderr.flush()
        else:  # "stop" or "abort"
            if interactive and total:
                env.stderr.write("\r" + " " * 60 + "\r")
                env.stderr.flush()
            if event == "stop":
                env.message(f"{kind} capture finished after {elapsed:.1f}s")

    return report
