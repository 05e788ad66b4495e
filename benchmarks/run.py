"""Compare decode + top / speedscope / html / folded with ``go tool pprof -top`` and ``-raw`` on the same files:
wall time and peak RSS from /usr/bin/time -v. Prints a Markdown table. Usage: python benchmarks/run.py FILE..."""

from __future__ import annotations

import re
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent


def measure(command: list[str]) -> tuple[float, float]:
    """(wall seconds, peak RSS MB) of one run."""
    result = subprocess.run(["/usr/bin/time", "-v", *command], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True, check=True)  # fmt: skip
    wall = re.search(r"Elapsed \(wall clock\) time.*: (?:(\d+):)?(\d+):([\d.]+)", result.stderr)
    hours, minutes, seconds = wall.groups()
    elapsed = int(hours or 0) * 3600 + int(minutes) * 60 + float(seconds)
    rss_kb = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", result.stderr).group(1))
    return elapsed, rss_kb / 1024


def main(files: list[str]) -> None:
    python = sys.executable
    print("| file | step | wall s | peak RSS MB |")
    print("|---|---|---:|---:|")
    for file in files:
        steps = {
            "go tool pprof -top": ["go", "tool", "pprof", "-top", file],
            "go tool pprof -raw": ["go", "tool", "pprof", "-raw", file],
            "decode only": [python, str(HERE / "decode_and_render.py"), file, "decode"],
            "decode + top": [python, str(HERE / "decode_and_render.py"), file, "top"],
            "decode + speedscope": [python, str(HERE / "decode_and_render.py"), file, "speedscope"],
            "decode + html": [python, str(HERE / "decode_and_render.py"), file, "html"],
            "decode + folded": [python, str(HERE / "decode_and_render.py"), file, "folded"],
        }
        size = Path(file).stat().st_size / 1e6
        for step, command in steps.items():
            with tempfile.TemporaryDirectory() as output:  # the export is removed outside the measured process
                wall, rss = measure([*command, output] if "decode_and_render" in command[1] else command)
            print(f"| {Path(file).name} ({size:.1f} MB) | {step} | {wall:.2f} | {rss:.0f} |", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
