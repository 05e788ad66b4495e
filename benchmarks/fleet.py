"""A run over many contexts: wall time against the slowest healthy context plus the request timeout, and memory
against the number of contexts. One test API server per healthy context (the Argo Rollouts scenario, every
leader relayed to one Go target), plus contexts that refuse connections and contexts that never answer, all in
one kubeconfig; then ``heap --all-contexts`` runs once per context count.

    PYTHONPATH=. flock /work/.bench.lock .venv/bin/python benchmarks/fleet.py [--contexts 10,50] [--parallel 50]

Per run: wall seconds of the whole command; the run's own seconds (first context started to last one ended, from
``fleet.json``); the slowest healthy and the slowest unreachable context's own seconds (each from its child's start
to its end, so both include that child's start-up); the bound (the slowest healthy plus the request timeout); the
parent's peak RSS (``/usr/bin/time``) and the largest child's peak RSS (this process's ``RUSAGE_CHILDREN`` after
the run: the biggest single process among the plugin's children).
"""

from __future__ import annotations

import argparse
import json
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tests.goproc import start_gotarget
from tests.kubeapi.fleet import start_fleet

PLUGIN = Path(sys.executable).parent / "kubectl-rollouts_profile"


def run_once(count: int, *, refused: int, frozen: int, parallel: int, timeout: str, go) -> dict:
    healthy = [f"cluster-{index:02d}" for index in range(count - refused - frozen)]
    fleet = start_fleet(healthy, pprof_port=go.pprof_port, metrics_port=go.metrics_port,
                        refused=[f"refused-{index}" for index in range(refused)],
                        frozen=[f"frozen-{index}" for index in range(frozen)])
    try:
        with tempfile.TemporaryDirectory() as scratch:
            kubeconfig = fleet.write_kubeconfig(Path(scratch) / "kubeconfig")
            out = Path(scratch) / "out"
            out.mkdir()
            command = ["/usr/bin/time", "-v", str(PLUGIN), "heap", "--all-contexts", "--kubeconfig", str(kubeconfig),
                       "--parallel", str(parallel), "--request-timeout", timeout, "--output-dir", str(out),
                       "--format", "none"]
            started = time.perf_counter()
            result = subprocess.run(command, capture_output=True, text=True, stdin=subprocess.DEVNULL)
            wall = time.perf_counter() - started
            (manifest,) = out.glob("fleet-heap-*/fleet.json")
            document = json.loads(manifest.read_text())
    finally:
        fleet.stop()
    parent_rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", result.stderr).group(1))  # type: ignore[union-attr]
    healthy_seconds = [entry["seconds"] for entry in document["contexts"] if entry["context"] in healthy]
    failed = {entry["context"]: entry["exitCode"] for entry in document["failed"]}
    return {
        "contexts": count, "parallel": parallel, "exit": result.returncode, "wall": wall,
        "run": document["seconds"],
        "slowest_healthy": max(healthy_seconds), "failed": failed,
        "parent_rss_mb": parent_rss / 1024,
        "largest_child_rss_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
        "ok": len(document["ok"]),
        "seconds": {entry["context"]: entry["seconds"] for entry in document["contexts"]},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contexts", default="10,50", help="comma-separated context counts")
    parser.add_argument("--refused", type=int, default=3)
    parser.add_argument("--frozen", type=int, default=3)
    parser.add_argument("--parallel", type=int, default=50)
    parser.add_argument("--request-timeout", default="5s")
    options = parser.parse_args()
    timeout_seconds = float(options.request_timeout.rstrip("s"))
    go = start_gotarget(layout="new", metrics=True)
    try:
        print("| contexts (healthy/refused/frozen) | parallel | exit | wall s | run s | slowest healthy s "
              "| slowest unreachable s | bound s | run within bound | parent peak RSS MB | largest child peak RSS MB |")
        print("|---|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|")
        for count in (int(value) for value in options.contexts.split(",")):
            row = run_once(count, refused=options.refused, frozen=options.frozen, parallel=options.parallel,
                           timeout=options.request_timeout, go=go)
            bound = row["slowest_healthy"] + timeout_seconds
            healthy = count - options.refused - options.frozen
            unreachable = max((seconds for context, seconds in row["seconds"].items()
                               if not context.startswith("cluster-")), default=0.0)
            print(f"| {count} ({healthy}/{options.refused}/{options.frozen}) | {row['parallel']} | {row['exit']} "
                  f"| {row['wall']:.1f} | {row['run']:.1f} | {row['slowest_healthy']:.1f} | {unreachable:.1f} "
                  f"| {bound:.1f} | {'yes' if row['run'] <= bound else 'no'} | {row['parent_rss_mb']:.0f} "
                  f"| {row['largest_child_rss_mb']:.0f} |", flush=True)
            print("    per context:", json.dumps(row["seconds"]), file=sys.stderr)
            assert row["ok"] == healthy, row
    finally:
        go.stop()


if __name__ == "__main__":
    main()
