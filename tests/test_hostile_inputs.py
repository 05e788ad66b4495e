"""Input from strangers end to end: metrics pages with NaN, ±Inf, bad bucket bounds, huge cardinality and escape
sequences (from a real HTTP server standing in for the controller's metrics port), through `cpu`, `bundle`,
`analyze` and `diagnose`; every JSON output parsed strictly (no NaN or Infinity)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.clitools import invoke, refuse_constant
from tests.test_analysis_metrics import RECONCILE


class MetricsPage:
    """A loopback HTTP server answering every GET with ``page`` (set it between requests)."""

    def __init__(self) -> None:
        self.page = b""
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - the http.server's name
                body = owner.page
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; version=0.0.4")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/metrics"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture(scope="module")
def metrics_page() -> Iterator[MetricsPage]:
    page = MetricsPage()
    yield page
    page.server.shutdown()
    page.server.server_close()


def strict(text: str) -> Any:
    return json.loads(text, parse_constant=refuse_constant)


NON_FINITE = (b"# TYPE go_goroutines gauge\ngo_goroutines NaN\n"
              b"# TYPE process_resident_memory_bytes gauge\nprocess_resident_memory_bytes +Inf\n"
              b"# TYPE process_cpu_seconds_total counter\nprocess_cpu_seconds_total 12.5\n")
BAD_RECONCILE = (RECONCILE.replace('le="0.25"} 3', 'le="abc"} 3')
                 + 'rollout_reconcile_count{name="c",namespace="ns"} NaN\n').encode()


# ----- case 4 and 5: NaN / ±Inf warn, are left out, and never reach --json ------------------------------------------

def test_cpu_capture_with_nan_goroutines_warns_and_succeeds(go_new: Any, metrics_page: MetricsPage,
                                                            tmp_path: Path) -> None:  # fmt: skip
    metrics_page.page = NON_FINITE
    code, stdout, stderr = invoke("cpu", "--url", go_new.base_url, "--metrics-url", metrics_page.url, "--seconds",
                                  "1", "--json", "--format", "none", "--output-dir", str(tmp_path))
    assert code == 0, stderr
    result = strict(stdout)
    assert result["load"]["goroutines"] is None and result["load"]["error"] is None
    assert any("go_goroutines NaN" in warning for warning in result["warnings"])


def test_analyze_and_diagnose_with_nan_reconciles_and_a_bad_bucket(go_new: Any, metrics_page: MetricsPage,
                                                                  tmp_path: Path) -> None:  # fmt: skip
    metrics = tmp_path / "metrics.txt"
    metrics.write_bytes(NON_FINITE + BAD_RECONCILE)
    code, stdout, stderr = invoke("analyze", str(metrics), "--json")
    assert code == 0, stderr
    result = strict(stdout)
    assert result["metrics"]["goroutines"] is None and result["metrics"]["reconcileCount"] == 10
    assert "warning: metrics.txt: 3 series with a value that is not a finite number left out" in stderr
    assert result["warnings"] == [line.removeprefix("warning: ") for line in stderr.splitlines()]
    metrics_page.page = NON_FINITE + BAD_RECONCILE
    out = tmp_path / "out"
    out.mkdir()
    code, stdout, stderr = invoke("diagnose", "high-cpu", "--url", go_new.base_url, "--metrics-url",
                                  metrics_page.url, "--seconds", "1", "--output-dir", str(out), "--json")
    assert code == 0, stderr
    result = strict(stdout)
    assert Path(result["report"]).is_file()


# ----- case 6: huge label cardinality -------------------------------------------------------------------------------

def test_many_series_give_a_short_load_line_and_json(go_new: Any, metrics_page: MetricsPage, tmp_path: Path) -> None:
    """20,000 work queues (one per label value) and a queue name made of escape sequences: one short load line,
    the name shown escaped, a small --json."""
    queues = "".join(f'workqueue_depth{{name="queue-{i}"}} {i % 50}\n' for i in range(20_000))
    metrics_page.page = (queues + 'workqueue_depth{name="\x1b]0;pwned\x07\x1b[2J"} 7\n').encode()
    code, stdout, stderr = invoke("cpu", "--url", go_new.base_url, "--metrics-url", metrics_page.url, "--seconds",
                                  "1", "--json", "--format", "none", "--output-dir", str(tmp_path))
    assert code == 0, stderr
    (line,) = [line for line in stderr.splitlines() if line.startswith("load: ")]
    assert len(line) < 300 and "and 19996 more queues" in line
    assert "\x1b" not in stderr and "\x07" not in stderr
    assert len(stdout) < 4000 and strict(stdout)["load"]["workqueue_queues"] == 20_001


def test_a_metrics_page_over_its_byte_bound_is_cut_short(go_new: Any, metrics_page: MetricsPage,
                                                         tmp_path: Path) -> None:  # fmt: skip
    """A realistic attack size (40 MB, ~1.1M series): the fetch stops at the 32 MiB bound; the guard warns that
    the load was not checked and the capture goes ahead."""
    series = b"".join(b'rollout_info{name="r%07d",namespace="big"} 1\n' % i for i in range(1000))
    metrics_page.page = series * (40_000_000 // len(series))
    code, stdout, stderr = invoke("cpu", "--url", go_new.base_url, "--metrics-url", metrics_page.url, "--seconds",
                                  "1", "--json", "--format", "none", "--output-dir", str(tmp_path))
    assert code == 0, stderr
    result = strict(stdout)
    assert "larger than 33554432 bytes" in result["load"]["error"]
    assert any("load was not checked" in warning for warning in result["warnings"])
