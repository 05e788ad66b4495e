"""Compare ``analyze`` and ``analyze --html`` with ``convert --format top`` on the same file, whole process (the
CLI as users run it: start-up, decode, rollup, findings, output), side by side in one run: the three commands
take turns, ROUNDS times, and each row is the median wall time and the median CPU time (user + system) with their
ratios to those of ``convert --format top``.
Prints a Markdown table.

Usage: python benchmarks/analyze.py FILE [ROUNDS]   (run it under ``flock /work/.bench.lock`` on a shared machine)
"""

from __future__ import annotations

import re
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

STEPS = ("convert --format top", "analyze", "analyze --html")


def measure(command: list[str]) -> tuple[float, float, float]:
    """(wall seconds, CPU seconds: user + system, peak RSS MB) of one process, from /usr/bin/time -v. On a shared
    machine the CPU time varies far less than the wall time."""
    result = subprocess.run(["/usr/bin/time", "-v", *command], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True, check=True)  # fmt: skip
    hours, minutes, seconds = re.search(r"Elapsed \(wall clock\) time.*: (?:(\d+):)?(\d+):([\d.]+)",
                                        result.stderr).groups()  # fmt: skip
    cpu = sum(float(re.search(rf"{kind} time \(seconds\): ([\d.]+)", result.stderr).group(1))
              for kind in ("User", "System"))  # fmt: skip
    rss_kb = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", result.stderr).group(1))
    return int(hours or 0) * 3600 + int(minutes) * 60 + float(seconds), cpu, rss_kb / 1024


def commands(file: str, output: Path) -> dict[str, list[str]]:
    cli = [sys.executable, "-m", "kubectl_rollouts_profile"]
    return {
        "convert --format top": [*cli, "convert", file, "--format", "top", "-o", str(output / "top.txt")],
        "analyze": [*cli, "analyze", file],
        "analyze --html": [*cli, "analyze", file, "--html", str(output / "report.html")],
    }


def main(file: str, rounds: int = 3) -> None:
    walls: dict[str, list[float]] = {step: [] for step in STEPS}
    cpus: dict[str, list[float]] = {step: [] for step in STEPS}
    peaks: dict[str, list[float]] = {step: [] for step in STEPS}
    for _ in range(rounds):
        for step in STEPS:
            with tempfile.TemporaryDirectory() as output:  # a new output each time: nothing is overwritten
                wall, cpu, rss = measure(commands(file, Path(output))[step])
            walls[step].append(wall)
            cpus[step].append(cpu)
            peaks[step].append(rss)
    wall_base, cpu_base = statistics.median(walls[STEPS[0]]), statistics.median(cpus[STEPS[0]])
    size = Path(file).stat().st_size / 1e6
    print(f"{Path(file).name} ({size:.1f} MB), {rounds} rounds, medians:\n")
    print("| step | wall s | x convert --format top | CPU s | x convert --format top | peak RSS MB | wall runs (s) |")
    print("|---|---:|---:|---:|---:|---:|---|")
    for step in STEPS:
        wall, cpu = statistics.median(walls[step]), statistics.median(cpus[step])
        runs = ", ".join(f"{value:.1f}" for value in walls[step])
        print(f"| {step} | {wall:.2f} | {wall / wall_base:.2f} | {cpu:.2f} | {cpu / cpu_base:.2f} | "
              f"{statistics.median(peaks[step]):.0f} | {runs} |")

if __name__ == "__main__":
    main(sys.argv[1], *(int(arg) for arg in sys.argv[2:3]))
