"""The incident report page in headless Chromium: built from a real bundle and files of the Go target, it renders
with no console error and no network request, shows the findings first, every chart and flame graph, stays under
5 MB, and its screenshot is not blank."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from kubectl_rollouts_profile.analysis.findings import find
from kubectl_rollouts_profile.analysis.inputs import load_paths
from kubectl_rollouts_profile.analysis.report import MAX_REPORT_BYTES, render_report
from tests.analysis_material import QUIET, fetch_metrics, make_bundle, snapshot, wait_until
from tests.goproc import GoTarget, start_gotarget
from tests.web.browser import Browser, chromium_path, png_colors

needs_chromium = pytest.mark.skipif(chromium_path() is None, reason="chromium is not installed")


@pytest.fixture(scope="module")
def queue_target() -> Iterator[GoTarget]:
    """A controller whose queue backs up and whose analysis provider never answers."""
    target = start_gotarget("--workloads", "slow-queue,stuck-http", *QUIET, metrics=True)
    yield target
    target.stop()


@pytest.fixture(scope="module")
def report_inputs(kube_api, queue_target: GoTarget, tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    out = tmp_path_factory.mktemp("report")
    first_metrics = fetch_metrics(queue_target, out / "metrics-0.txt")
    wait_until(lambda: snapshot(queue_target).workqueue().get("rollouts", 0) >= 40, what="a queue of 40")
    return [first_metrics, make_bundle(kube_api, queue_target, out, seconds=2)]


def open_report(browser: Browser, path: Path) -> None:
    browser.navigate(path.as_uri())
    browser.wait_for("Array.from(document.querySelectorAll('iframe.flame')).every(f => f.contentDocument && "
                     "f.contentDocument.querySelectorAll('#chart .f').length > 0)")


@needs_chromium
def test_report_renders_findings_charts_and_flame_graphs(report_inputs: list[Path], tmp_path: Path) -> None:
    data = load_paths(report_inputs)
    findings = find(data)
    page = render_report(data, findings, title="incident")
    assert len(page) <= MAX_REPORT_BYTES
    assert b"http://" not in page.replace(b"http://www.w3.org", b"") and b"https://" not in page
    path = tmp_path / "report.html"
    path.write_bytes(page)
    with Browser() as browser:
        open_report(browser, path)
        found = browser.evaluate("Array.from(document.querySelectorAll('[data-finding]')).map(e => e.dataset.finding)")
        assert {"goroutine-growth", "workqueue-backlog", "reconcile-latency"} <= set(found)
        # Findings come before anything else of substance.
        assert browser.evaluate("document.querySelector('h2').textContent") == "Findings"
        charts = browser.evaluate("Array.from(document.querySelectorAll('svg.chart')).map(s => s.dataset.chart)")
        assert charts.count("subsystems") == len(data.profiles)
        assert "reconcile-histogram" in charts and "goroutine-trend" in charts
        assert "workqueue-rollouts" in charts  # two metrics snapshots: the depth over time
        assert browser.evaluate("Array.from(document.querySelectorAll('svg.chart')).every(s => "
                                "s.querySelectorAll('rect, polyline').length > 0)")
        flames = browser.evaluate("Array.from(document.querySelectorAll('iframe.flame')).map(f => f.title)")
        assert "cpu.pb.gz" in flames and "after/goroutine.pb.gz minus before/goroutine.pb.gz" in flames
        facts = browser.evaluate("document.querySelector('table.facts').textContent")
        assert "leader" in facts and "kubernetes" in facts
        assert browser.console_errors() == []
        assert [url for url in browser.requested_urls() if not url.startswith(("file:", "about:", "data:"))] == []
        assert png_colors(browser.screenshot_png()) > 8


@needs_chromium
def test_report_of_the_plain_target_says_no_finding(plain_report: Path) -> None:
    with Browser() as browser:
        open_report(browser, plain_report)
        assert browser.evaluate("document.querySelector('[data-finding]').dataset.finding") == "none"
        assert browser.console_errors() == []


@pytest.fixture
def plain_report(go_new: GoTarget, tmp_path: Path) -> Path:
    from tests.analysis_material import fetch

    files = [fetch(go_new, "heap", tmp_path / "heap.pb.gz"), fetch(go_new, "goroutine", tmp_path / "goroutine.pb.gz")]
    data = load_paths(files)
    path = tmp_path / "plain.html"
    path.write_bytes(render_report(data, find(data), title="plain"))
    return path


def test_a_wide_profile_keeps_the_page_under_5_mb() -> None:
    from kubectl_rollouts_profile.analysis.inputs import AnalysisInput, ProfileInput
    from tests.test_analysis_catalog import make_profile

    # Profiles of 6000 distinct deep stacks each: far more than fits unmerged in a fifth of 5 MB.
    wide = make_profile([([f"pkg{i % 97}/sub.function{i}_{depth}" for depth in range(8)], 1 + i % 50)
                         for i in range(6000)], "inuse_space", "bytes")
    data = AnalysisInput(tuple(ProfileInput(f"heap-{n}.pb.gz", "heap", wide) for n in range(4)))
    page = render_report(data, [], title="wide")
    assert len(page) <= MAX_REPORT_BYTES
    assert page.count(b'<iframe class="flame"') == 4
    assert b"No change between the two snapshots." in page  # the same heap twice: the diff is not drawn


@needs_chromium
def test_goroutine_trend_writes_a_chart_page(go_factory, tmp_path: Path) -> None:
    import stat

    from tests.clitools import run_plugin

    target = go_factory("--workloads", "stuck-http", *QUIET)
    result = run_plugin("goroutine", "--url", target.base_url, "--every", "700ms", "--count", "4",
                        "--output-dir", str(tmp_path), cwd=tmp_path)  # fmt: skip
    assert result.returncode == 0, result.stderr
    line = next(line for line in result.stdout.splitlines() if line.startswith("trend chart: "))
    page = Path(line.removeprefix("trend chart: "))
    assert page.parent == tmp_path and page.name.endswith(".html")
    assert stat.S_IMODE(page.stat().st_mode) == 0o600
    with Browser() as browser:
        open_report(browser, page)
        assert browser.evaluate("document.querySelectorAll('svg[data-chart=\"goroutine-trend\"] circle').length") == 4
        found = browser.evaluate("Array.from(document.querySelectorAll('[data-finding]')).map(e => e.dataset.finding)")
        assert "goroutine-growth" in found
        assert browser.console_errors() == []
        assert png_colors(browser.screenshot_png()) > 8
