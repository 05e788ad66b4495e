"""Startup cost: wall time of ``kubectl-rollouts_profile --help`` against ``python -c 'import click'`` (the floor
any click program pays), median of N runs each, interleaved so a change in the machine's load hits both alike.
Usage: python benchmarks/startup.py [N]"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from pathlib import Path

SCRIPT = Path(sys.executable).parent / "kubectl-rollouts_profile"


def wall(command: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    return time.perf_counter() - started


def main(runs: int) -> None:
    commands = {
        "python -c 'import click'": [sys.executable, "-c", "import click"],
        "kubectl-rollouts_profile --help": [str(SCRIPT), "--help"],
    }
    times: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(runs):
        for name, command in commands.items():
            times[name].append(wall(command))
    medians = {name: statistics.median(values) for name, values in times.items()}
    for name, median in medians.items():
        print(f"{name}: median {median * 1000:.0f} ms of {runs}")
    floor, ours = medians.values()
    print(f"ratio: {ours / floor:.2f}x")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 10)
