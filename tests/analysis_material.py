"""Profiles and metrics of the real Go target for the analysis tests: fetch them over HTTP into files, and wait
on the target's own metrics (a condition, never a fixed sleep) until a workload has shown itself."""

from __future__ import annotations

import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

from kubectl_rollouts_profile.analysis.metrics import MetricsSnapshot, parse_metrics
from tests.goproc import GoTarget

# The workload targets run without the default CPU burners and mutex contenders, so a workload's own share of
# the CPU is what the profile shows.
QUIET = ("--cpu-burners", "0", "--contenders", "0")

PROFILE_PATHS = {
    "cpu": "/debug/pprof/profile/?seconds={seconds}",
    "heap": "/debug/pprof/heap?gc=1",
    "allocs": "/debug/pprof/allocs",
    "goroutine": "/debug/pprof/goroutine",
}


def fetch(target: GoTarget, kind: str, path: Path, *, seconds: int = 5) -> Path:
    url = target.base_url + PROFILE_PATHS[kind].format(seconds=seconds)
    with urllib.request.urlopen(url, timeout=seconds + 60) as response:
        path.write_bytes(response.read())
    return path


def metrics_text(target: GoTarget) -> str:
    assert target.metrics_addr, "start the target with metrics=True"
    with urllib.request.urlopen(f"http://{target.metrics_addr}/metrics", timeout=30) as response:
        return response.read().decode()


def fetch_metrics(target: GoTarget, path: Path) -> Path:
    path.write_text(metrics_text(target))
    return path


def snapshot(target: GoTarget) -> MetricsSnapshot:
    return parse_metrics(metrics_text(target))


def wait_until(condition: Callable[[], bool], *, timeout: float = 60, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} never held")
        time.sleep(0.1)


def wait_for_metric(target: GoTarget, name: str, at_least: float, *, timeout: float = 60) -> None:
    wait_until(lambda: (snapshot(target).value(name) or 0) >= at_least, timeout=timeout,
               what=f"{name} >= {at_least}")


def make_bundle(kube_api: object, target: GoTarget, out: Path, *, seconds: int = 2) -> Path:
    """A real bundle (the plugin's ``bundle`` command through the test API server) of ``target``; the archive's
    path."""
    import io
    import json

    from click.testing import CliRunner

    from kubectl_rollouts_profile.cli import main
    from kubectl_rollouts_profile.environment import Environment
    from tests.kubeapi.scenario import install_argo_rollouts

    kube_api.reset()  # type: ignore[attr-defined]
    scenario = install_argo_rollouts(kube_api, pprof_port=target.pprof_port, metrics_port=target.metrics_port)
    kubeconfig = kube_api.write_kubeconfig(out / "kubeconfig", "admin",  # type: ignore[attr-defined]
                                           namespace=scenario.namespace)
    stdout, stderr = io.StringIO(), io.StringIO()
    result = CliRunner().invoke(
        main, ["bundle", "--kubeconfig", str(kubeconfig), "--output-dir", str(out), "--seconds", str(seconds),
               "--json"], obj=Environment(stdout=stdout, stderr=stderr, environ={"HOME": str(out)}),
    )  # fmt: skip
    assert result.exit_code == 0, (stderr.getvalue(), result.exception)
    return Path(json.loads(stdout.getvalue())["archive"])


def fetch_enough_cpu(target: GoTarget, path: Path, *, seconds: int = 10, attempts: int = 4) -> Path:
    """A CPU profile with enough samples to conclude from (what the findings rules require): on a machine so busy
    that the target got too little CPU in one capture, capture again, up to ``attempts`` times."""
    from kubectl_rollouts_profile.analysis.findings import MIN_CPU_SAMPLES, MIN_CPU_SECONDS
    from kubectl_rollouts_profile.pprof.decode import decode_profile

    for _ in range(attempts):
        profile = decode_profile(fetch(target, "cpu", path, seconds=seconds).read_bytes())
        if profile.total("samples") >= MIN_CPU_SAMPLES and profile.total("cpu") >= MIN_CPU_SECONDS * 1e9:
            return path
    raise AssertionError(f"the target never got enough CPU for {MIN_CPU_SAMPLES} samples in {attempts} captures")


def capture_with_plugin(target: GoTarget, kind: str, out: Path, *, seconds: int | None = None) -> Path:
    """One profile captured through the plugin (``cpu --url``, ``allocs --url`` ...); the file's path."""
    import json

    from tests.clitools import invoke

    timing = ("--seconds", str(seconds)) if seconds else ()
    code, stdout, stderr = invoke(kind, "--url", target.base_url, *timing, "--json", "--format", "none",
                                  "--output-dir", str(out))
    assert code == 0, stderr
    return Path(json.loads(stdout)["files"]["pprof"])


def analyze_with_plugin(*paths: Path) -> dict:
    """``analyze --json`` of the files, as the plugin's user runs it."""
    import json

    from tests.clitools import invoke

    code, stdout, stderr = invoke("analyze", "--json", *map(str, paths))
    assert code == 0, stderr
    return json.loads(stdout)
