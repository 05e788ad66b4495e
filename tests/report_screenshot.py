"""Makes docs/report-screenshot.png for the README: a real incident report of the Go target running the stuck
analysis provider, slow-queue and GC-churn workloads, photographed by headless Chromium.

    .venv/bin/python -m tests.report_screenshot
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from kubectl_rollouts_profile.analysis.findings import find
from kubectl_rollouts_profile.analysis.inputs import load_paths
from kubectl_rollouts_profile.analysis.report import render_report
from tests.analysis_material import QUIET, fetch, fetch_metrics, snapshot, wait_until
from tests.goproc import REPO, start_gotarget
from tests.web.browser import Browser

OUTPUT = REPO / "docs" / "report-screenshot.png"


def main() -> None:
    target = start_gotarget("--workloads", "stuck-http,slow-queue,gc-churn", *QUIET, metrics=True)
    try:
        with tempfile.TemporaryDirectory() as directory:
            out = Path(directory)
            files = [fetch(target, "goroutine", out / "goroutine-1.pb.gz"),
                     fetch_metrics(target, out / "metrics-1.txt")]
            wait_until(lambda: snapshot(target).workqueue().get("rollouts", 0) >= 40, what="a queue of 40")
            files += [fetch(target, "cpu", out / "cpu.pb.gz", seconds=10),
                      fetch(target, "allocs", out / "allocs.pb.gz"),
                      fetch(target, "goroutine", out / "goroutine-2.pb.gz"),
                      fetch_metrics(target, out / "metrics-2.txt")]
            data = load_paths(files)
            page = out / "report.html"
            page.write_bytes(render_report(data, find(data), title="Argo Rollouts controller: incident report"))
            with Browser(("--window-size=1100,900",)) as browser:
                browser.navigate(page.as_uri())
                OUTPUT.write_bytes(browser.screenshot_png())
    finally:
        target.stop()
    print(OUTPUT, OUTPUT.stat().st_size)


if __name__ == "__main__":
    main()
