"""The goroutine trend against a real Go target whose goroutines grow: direct --url mode, through the cluster,
and Ctrl-C (SIGINT to the real command) still printing the summary."""

from __future__ import annotations

import re
import signal
import stat
import subprocess
from pathlib import Path
from typing import Any

from tests.clitools import PLUGIN, invoke, plugin_env


def test_trend_shows_growth_and_names_the_growing_stack(go_factory: Any, tmp_path: Path) -> None:
    target = go_factory("--goroutine-growth", "20ms")
    code, stdout, stderr = invoke("goroutine", "--url", target.base_url, "--every", "400ms", "--count", "3",
                                  "--output-dir", str(tmp_path))
    assert code == 0, stderr
    snapshots = sorted(tmp_path.glob("*-goroutine-*.pb.gz"))
    assert len(snapshots) == 3
    assert all(stat.S_IMODE(path.stat().st_mode) == 0o600 for path in snapshots)
    counts = [int(line.split()[1]) for line in stdout.splitlines() if re.match(r"\d{4}-\d\d-\d\dT", line)]
    assert len(counts) == 3 and counts[-1] > counts[0]
    summary = stdout[stdout.index("stacks that grew most"):]
    first_row = summary.splitlines()[1]
    assert "main.parkLeaked" in first_row and int(first_row.split()[0]) > 0


def test_trend_through_the_cluster(argo_cluster: Any, tmp_path: Path) -> None:
    code, stdout, stderr = invoke("goroutine", "--kubeconfig", str(argo_cluster.kubeconfig), "--every", "0.1",
                                  "--count", "2", "--output-dir", str(tmp_path))
    assert code == 0, stderr
    leader = argo_cluster.scenario.leader_pod
    assert len(list(tmp_path.glob(f"{leader}-goroutine-*.pb.gz"))) == 2
    assert "2 snapshots in" in stdout
    assert any("portforward" in path for _, path, _ in argo_cluster.server.requests)


def test_ctrl_c_stops_early_and_prints_the_summary(go_factory: Any, tmp_path: Path) -> None:
    target = go_factory("--goroutine-growth", "20ms")
    child = subprocess.Popen(
        [str(PLUGIN), "goroutine", "--url", target.base_url, "--every", "10m", "--count", "5",
         "--output-dir", str(tmp_path)],
        env=plugin_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        assert child.stdout is not None
        assert child.stdout.readline().startswith("time")
        first = child.stdout.readline()
        assert first[:1].isdigit(), first
        child.send_signal(signal.SIGINT)  # the command now waits 10 minutes for the next snapshot
        rest, stderr = child.communicate(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert child.returncode == 0, stderr
    assert "interrupted" in stderr
    assert "1 snapshots in" in rest
    assert len(list(tmp_path.glob("*.pb.gz"))) == 1
