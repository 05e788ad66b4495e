"""Compare ``analyze`` and ``analyze --html`` with ``convert --format top`` on the same file, whole process (the
CLI as users run it: start-up, decode, rollup, findings, output), side by side in one run: the three commands
take turns, ROUNDS times, and each row is the median wall time with its ratio to ``convert --format top``.
Prints a Markdown table.

Usage: python benchmarks/analyze.py FILE [ROUNDS]   (run it under ``flock /work/.bench.lock`` on a shared machine)
"""

from __future__ import annotations

import statistics
import sys
import tempfile
from pathlib import Path

from run import measure  # benchmarks/run.py: (wall seconds, peak RSS MB) of one process

STEPS = ("convert --format top", "analyze", "analyze --html")


def commands(file: str, output: Path) -> dict[str, list[str]]:
    cli = [sys.executable, "-m", "kubectl_rollouts_profile"]
    return {
        "convert --format top": [*cli, "convert", file, "--format", "top", "-o", str(output / "top.txt")],
        "analyze": [*cli, "analyze", file],
        "analyze --html": [*cli, "analyze", file, "--html", str(output / "report.html")],
    }


def main(file: str, rounds: int = 3) -> None:
    walls: dict[str, list[float]] = {step: [] for step in STEPS}
    peaks: dict[str, list[float]] = {step: [] for step in STEPS}
    for _ in range(rounds):
        for step in STEPS:
            with tempfile.TemporaryDirectory() as output:  # a new output each time: nothing is overwritten
                wall, rss = measure(commands(file, Path(output))[step])
            walls[step].append(wall)
            peaks[step].append(rss)
    base = statistics.median(walls[STEPS[0]])
    size = Path(file).stat().st_size / 1e6
    print(f"{Path(file).name} ({size:.1f} MB), {rounds} rounds, medians:\n")
    print("| step | wall s | x convert --format top | peak RSS MB | runs (s) |")
    print("|---|---:|---:|---:|---|")
    for step in STEPS:
        wall = statistics.median(walls[step])
        runs = ", ".join(f"{value:.1f}" for value in walls[step])
        print(f"| {step} | {wall:.2f} | {wall / base:.2f} | {statistics.median(peaks[step]):.0f} | {runs} |")


if __name__ == "__main__":
    main(sys.argv[1], *(int(arg) for arg in sys.argv[2:3]))
