"""Smoke test of an installed plugin: the frozen executable, pip's script, ``python -m`` or the image's command.

    python krew/smoke.py [--gotarget BINARY] -- COMMAND...

Runs ``--version``, ``--help``, the shell completion script, ``rbac`` and, with ``--gotarget`` (the test Go pprof
server, built from tests/gotarget), a real ``heap`` capture over ``--url`` and a ``convert`` of it. Standard library
only, so it runs with any Python 3.8+ beside the thing it tests (a release runner, a bare container). Exit 1 names the
first check that failed.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

COMPLETE_VAR = "_KUBECTL_ROLLOUTS_PROFILE_COMPLETE"


def _run(command: list[str], *args: str, env: dict[str, str] | None = None, cwd: str | None = None) -> str:
    result = subprocess.run([*command, *args], capture_output=True, text=True, env=env, cwd=cwd, timeout=300,
                            stdin=subprocess.DEVNULL)
    if result.returncode != 0:
        raise SystemExit(f"smoke: `{' '.join(args) or 'COMMAND'}` exited {result.returncode}:\n{result.stderr[-2000:]}")
    return result.stdout


def _expect(condition: bool, what: str) -> None:
    if not condition:
        raise SystemExit(f"smoke: {what}")
    print(f"smoke: ok: {what}", file=sys.stderr)


def _start_gotarget(binary: str) -> tuple[subprocess.Popen, str]:
    process = subprocess.Popen([binary, "--addr", "127.0.0.1:0"], stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    words = process.stdout.readline().split()  # "listening ADDR ..." once bound
    if not words or words[0] != "listening":
        process.kill()
        raise SystemExit("smoke: the Go pprof target did not start")
    return process, f"http://{words[1]}"


def smoke(command: list[str], gotarget: str | None) -> None:
    version = _run(command, "--version")
    _expect("kubectl-rollouts-profile" in version, f"--version prints the name ({version.strip()})")
    _expect("goroutine" in _run(command, "--help"), "--help lists the commands")
    env = {key: value for key, value in os.environ.items() if not key.startswith("KUBE")}
    script = _run(command, env=dict(env, **{COMPLETE_VAR: "bash_source"}))
    _expect("complete -o nosort -F" in script and "kubectl-rollouts_profile" in script,
            f"{COMPLETE_VAR}=bash_source prints a bash completion script for kubectl-rollouts_profile")
    rbac = _run(command, "rbac", "--serviceaccount", "ops/runbook")
    _expect("kind: Role" in rbac and "pods/portforward" in rbac, "rbac prints the Role")
    if gotarget is None:
        return
    process, url = _start_gotarget(gotarget)
    try:
        with tempfile.TemporaryDirectory(prefix="smoke-") as out:
            result = json.loads(_run(command, "heap", "--url", url, "--format", "none", "--json", cwd=out))
            profile = Path(out, result["files"]["pprof"])
            _expect(result["samples"] > 0 and profile.is_file(), f"heap --url captured {result['samples']} samples")
            top = _run(command, "convert", str(profile), "--format", "top", "-o", "-", cwd=out)
            _expect(bool(top.strip()), "convert --format top prints a table")
    finally:
        process.terminate()
        process.wait(timeout=30)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gotarget", help="the test Go pprof server's binary: also capture from it")
    parser.add_argument("command", nargs="+", help="how to run the plugin (after --)")
    args = parser.parse_args(argv)
    command = list(args.command)
    if os.sep in command[0] or (os.altsep and os.altsep in command[0]):
        command[0] = os.path.abspath(command[0])  # the capture runs in a temporary folder
    smoke(command, args.gotarget)
    print("smoke: all checks passed", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
