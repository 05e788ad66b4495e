"""Running the installed plugin as a user would: a subprocess of the console script, with captured streams."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PLUGIN = Path(sys.executable).parent / "kubectl-rollouts_profile"


def plugin_env(**extra: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("KUBE")}
    env["PATH"] = f"{PLUGIN.parent}{os.pathsep}{env.get('PATH', '')}"
    env.update(extra)
    return env


def run_plugin(
    *args: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(PLUGIN), *args],
        cwd=cwd,
        env=env or plugin_env(),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def files_in(directory: Path) -> list[str]:
    """Every entry in a directory, hidden temp files included."""
    return sorted(path.name for path in directory.iterdir())


def invoke(*args: str, environ: dict[str, str] | None = None) -> tuple[int, str, str]:
    """Run the CLI in this process with fake streams: ``(exit code, stdout, stderr)``. An exception other than the
    CLI's own exit is raised, so a bug fails the test with its traceback."""
    import io

    from click.testing import CliRunner

    from kubectl_rollouts_profile.cli import main
    from kubectl_rollouts_profile.environment import Environment

    stdout, stderr = io.StringIO(), io.StringIO()
    env = Environment(stdout=stdout, stderr=stderr, environ=environ or {})
    result = CliRunner().invoke(main, list(args), obj=env)
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, stdout.getvalue(), stderr.getvalue()


def refuse_constant(name: str) -> None:
    """``json.loads(..., parse_constant=refuse_constant)``: strict JSON has no NaN, Infinity or -Infinity."""
    raise ValueError(f"not strict JSON: {name}")


def wait_for(condition: Callable[[], bool], timeout: float = 60.0) -> bool:
    """Poll ``condition`` until it holds (True) or ``timeout`` seconds pass (False)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True
