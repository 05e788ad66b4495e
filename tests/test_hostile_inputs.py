"""Input from strangers end to end: metrics pages with NaN, ±Inf, bad bucket bounds, huge cardinality and escape
sequences (from a real HTTP server standing in for the controller's metrics port), through `cpu`, `bundle`,
`analyze` and `diagnose`; every JSON output parsed strictly (no NaN or Infinity)."""

from __future__ import annotations

import copy
import dataclasses
import gzip
import io
import json
import os
import re
import signal
import subprocess
import tarfile
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from kubectl_rollouts_profile.analysis.inputs import load_bundle
from kubectl_rollouts_profile.budget import Budget, InputTooLarge
from kubectl_rollouts_profile.deliver import MAX_STEM_BYTES, default_stem
from kubectl_rollouts_profile.export import render
from kubectl_rollouts_profile.pprof.encode import encode_profile
from kubectl_rollouts_profile.pprof.model import Function, Line, Location, Profile, ValueType
from tests.clitools import PLUGIN, invoke, plugin_env, refuse_constant
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


# ----- case 3 and 13: archives and JSON from strangers --------------------------------------------------------------

MANIFEST = b'{"bundle": "b", "target": {"namespace": "ns", "pod": "p"}}'


def write_archive(path: Path, members: list[tuple[str, bytes]]) -> Path:
    """A gzip tar like a bundle: every member under one top directory."""
    with tarfile.open(path, "w:gz") as archive:
        for name, data in members:
            info = tarfile.TarInfo(f"b/{name}")
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return path


def test_archive_members_are_counted_before_they_are_inflated(tmp_path: Path) -> None:
    """The total the members' headers announce is held to the budget before a member is inflated, members passed
    over included; a member over the per-member bound stops the reading at its header."""
    archive = write_archive(tmp_path / "big.tar.gz", [("manifest.json", MANIFEST), ("junk.bin", b"\0" * 5000),
                                                      ("more.bin", b"\0" * 5000)])
    with pytest.raises(InputTooLarge, match=r"big.tar.gz: its members inflate past 8000 bytes \(at more.bin\)"):
        load_bundle(archive, archive.read_bytes(), budget=Budget(archive_bytes=8000))
    with pytest.raises(InputTooLarge, match=r"big.tar.gz: member junk.bin is 5000 bytes, over the bound of 4096"):
        load_bundle(archive, archive.read_bytes(), budget=Budget(member_bytes=4096))


def test_a_member_announcing_10_gib_is_refused_at_its_header(tmp_path: Path) -> None:
    """A header saying 10 GiB (the data never follows): refused from the header alone, with nothing inflated —
    the message names the size, not a truncated archive."""
    header = tarfile.TarInfo("b/huge.bin")
    header.size = 10 << 30
    raw = write_archive(tmp_path / "m.tar.gz", [("manifest.json", MANIFEST)])
    with tarfile.open(raw) as tar:
        first = tar.getmembers()[0]
    body = first.tobuf() + MANIFEST.ljust(512, b"\0") + header.tobuf() + b"\0" * 4096
    archive = tmp_path / "huge.tar.gz"
    archive.write_bytes(gzip.compress(body))
    code, _, stderr = invoke("analyze", str(archive))
    assert code == 8 and "member huge.bin is 10737418240 bytes, over the bound of 268435456" in stderr


def test_archive_member_count_and_time_bounds(tmp_path: Path) -> None:
    members = [("manifest.json", MANIFEST)] + [(f"empty-{i}", b"") for i in range(12_000)]
    archive = write_archive(tmp_path / "many.tar.gz", members)
    code, _, stderr = invoke("analyze", str(archive))
    assert code == 8 and "many.tar.gz: more than 10000 members" in stderr
    ticks = iter(range(1000))
    with pytest.raises(InputTooLarge, match=r"many.tar.gz: not read within 120s"):
        load_bundle(archive, archive.read_bytes(), clock=lambda: 10.0 * next(ticks))


def test_truncated_bundle_exits_8_and_member_names_are_escaped(tmp_path: Path) -> None:
    archive = write_archive(tmp_path / "t.tar.gz", [("manifest.json", MANIFEST), ("x.bin", os.urandom(20000))])
    cut = tmp_path / "cut.tar.gz"
    cut.write_bytes(archive.read_bytes()[:-4000])
    code, _, stderr = invoke("analyze", str(cut))
    assert code == 8 and "cut.tar.gz: truncated or not a bundle archive" in stderr, stderr
    evil = write_archive(tmp_path / "evil.tar.gz", [("manifest.json", MANIFEST),
                                                    ("\x1b]0;owned\x07.pb.gz", b"not a profile")])
    code, _, stderr = invoke("analyze", str(evil))
    assert code == 8 and "evil.tar.gz:\\x1b]0;owned\\x07.pb.gz" in stderr and "\x1b" not in stderr


def test_deeply_nested_manifest_is_refused_with_exit_8(tmp_path: Path) -> None:
    archive = write_archive(tmp_path / "deep.tar.gz", [("manifest.json", b"[" * 200_000 + b"]" * 200_000)])
    code, _, stderr = invoke("analyze", str(archive))
    assert code == 8 and "deep.tar.gz:manifest.json: JSON nested more than 64 levels deep" in stderr


# ----- cases 9, 10, 11: names from profiles and file systems, where they land ----------------------------------------

ESCAPES = "\x1b]0;owned\x07\x1b[2J"


def named_profile(*names: str) -> Profile:
    """One sample per name, each a stack of that function alone."""
    functions = {i: Function(i, name, filename=f"/src/{name}.go") for i, name in enumerate(names, 1)}
    return Profile(
        sample_types=(ValueType("samples", "count"),),
        sample_locations=tuple((i,) for i in functions),
        sample_values=tuple((i * 10,) for i in functions),
        sample_labels=((),) * len(functions),
        locations={i: Location(i, lines=(Line(i, 1),)) for i in functions},
        functions=functions,
    )


def script_data(page: bytes) -> Any:
    """The flame graph page's data: the JSON of its inline script, which must hold no '<' at all."""
    match = re.search(rb"const DATA = (.*);\n", page)
    assert match is not None
    assert b"<" not in match.group(1)
    return strict(match.group(1).decode())


def test_a_comment_opener_in_a_name_cannot_blank_the_flame_graph() -> None:
    """'<!--<script>' inside the inline script makes the HTML parser swallow the rest of the page; the data
    escapes every '<' as \\u003c, and the names still read back exactly."""
    hostile = ("main.<!--<script>", "main.</script><!--", "main.x&y>z\u2028")
    page = render(named_profile(*hostile), "html", title="<!--<script>")
    assert set(hostile) <= set(script_data(page)["names"])
    assert b"<!--<script>" not in page


def test_control_characters_in_names_are_escaped_in_top_folded_and_analyze(tmp_path: Path) -> None:
    path = tmp_path / "evil.pb.gz"
    path.write_bytes(encode_profile(named_profile(f"main.{ESCAPES}", "main.ok\nfake line 100",
                                                  f"example.com/{ESCAPES}/pkg.Run")))
    for fmt, by in (("top", "function"), ("folded", "function"), ("top", "package")):
        code, stdout, stderr = invoke("convert", str(path), "--format", fmt, "--by", by)
        assert code == 0, stderr
        assert "\x1b" not in stdout and "\x07" not in stdout
        assert not any(line.startswith("fake line") for line in stdout.splitlines())
        assert "\\x1b]0" in stdout and "owned\\x07\\x1b" in stdout  # folded has ":" for ";"
    code, stdout, stderr = invoke("analyze", str(path), "--by", "function")
    assert code == 0, stderr
    assert "\x1b" not in stdout and "main.\\x1b]0;owned\\x07\\x1b[2J" in stdout


def test_non_utf8_file_names_convert_and_analyze(tmp_path: Path) -> None:
    """A file name that is not UTF-8 (any bytes are allowed on Linux): every format, and the report, show it with
    the odd byte escaped."""
    name = os.fsdecode(b"cpu-\xff\xfe-\x1b.pb.gz")
    path = tmp_path / name
    path.write_bytes(encode_profile(named_profile("main.work")))
    for fmt in ("html", "speedscope"):
        code, stdout, stderr = invoke("convert", str(path), "--format", fmt, "-o", str(tmp_path / f"out.{fmt}"))
        assert code == 0, stderr
    assert "<title>cpu-\\xff\\xfe-\\x1b</title>" in (tmp_path / "out.html").read_text()
    assert strict((tmp_path / "out.speedscope").read_text())["name"] == "cpu-\\xff\\xfe-\\x1b samples"
    code, stdout, stderr = invoke("analyze", str(path), "--html", str(tmp_path / "report.html"), "--json")
    assert code == 0, stderr
    assert strict(stdout)["profiles"][0]["name"] == "cpu-\\xff\\xfe-\\x1b.pb.gz"
    assert "cpu-\\xff\\xfe-\\x1b.pb.gz" in (tmp_path / "report.html").read_text()
    code, stdout, stderr = invoke("convert", str(path), "--format", "html")
    assert code == 0, stderr
    written = tmp_path / os.fsdecode(b"cpu-\xff\xfe-\x1b.html")
    assert written.is_file() and stdout.strip() == str(written)


def test_analyze_html_checks_its_destination_before_the_analysis(tmp_path: Path) -> None:
    existing = tmp_path / "report.html"
    existing.write_text("keep me")
    never_read = tmp_path / "missing.pb.gz"  # the analysis would fail on it: the destination is checked first
    code, _, stderr = invoke("analyze", str(never_read), "--html", str(existing))
    assert code == 9 and "report.html" in stderr and "exists" in stderr, stderr
    assert existing.read_text() == "keep me"


# ----- case 7: the report's bound -----------------------------------------------------------------------------------

def test_two_thousand_small_profiles_give_a_report_within_its_bound(tmp_path: Path) -> None:
    """A 2000-profile bundle of a few KB: the report draws the first profiles and lists the others by name, and
    stays under 5 MB (it was 22 MB)."""
    profile = encode_profile(named_profile("main.a", "main.b", "runtime.mallocgc"))
    members = [("manifest.json", MANIFEST)] + [(f"after/heap-{i}.pb.gz", profile) for i in range(2000)]
    archive = write_archive(tmp_path / "many-profiles.tar.gz", members)
    assert archive.stat().st_size < 100_000
    report = tmp_path / "report.html"
    code, _, stderr = invoke("analyze", str(archive), "--html", str(report))
    assert code == 0, stderr
    page = report.read_text()
    assert len(page.encode()) <= 5_000_000
    assert page.count('class="flame"') == 24 and "1976 more profiles are not drawn" in page


# ----- case 8: a 253-character pod name -----------------------------------------------------------------------------

LONG_POD = "argo-rollouts-" + "controller-replica-" * 12 + "x" * 5
LONG_POD += "-" + "a" * (253 - len(LONG_POD) - 1)


def test_default_names_fit_the_file_system_whatever_the_pod_is_called() -> None:
    when = datetime(2026, 12, 1, 1, 2, 3, tzinfo=timezone.utc)
    assert len(LONG_POD) == 253
    stem = default_stem(LONG_POD, "diagnose-slow-reconcile", when)
    assert len(stem.encode()) <= MAX_STEM_BYTES and stem.startswith("argo-rollouts-controller-replica-")
    assert stem.endswith("-diagnose-slow-reconcile-20261201T010203Z")
    other = default_stem(LONG_POD[:-1] + "b", "diagnose-slow-reconcile", when)
    assert other != stem and len(other) == len(stem)  # unique: a short hash of the whole name
    assert default_stem("argo-rollouts-7d9f-x2x4k", "cpu", when) == "argo-rollouts-7d9f-x2x4k-cpu-20261201T010203Z"


def long_named_leader(argo_cluster: Any, go_new: Any) -> None:
    """A copy of the leader pod under a valid 253-character name, its ports relayed to the Go target."""
    server, scenario = argo_cluster.server, argo_cluster.scenario
    pod = copy.deepcopy(server.get_object("v1", "Pod", scenario.namespace, scenario.leader_pod))
    pod["metadata"] = {key: value for key, value in pod["metadata"].items()
                       if key not in ("uid", "resourceVersion", "creationTimestamp")}
    pod["metadata"]["name"] = LONG_POD
    server.put(pod)
    server.route_port(scenario.namespace, LONG_POD, 6060, "127.0.0.1", go_new.pprof_port)
    server.route_port(scenario.namespace, LONG_POD, 8090, "127.0.0.1", go_new.metrics_port)


def test_a_253_character_pod_name_captures_and_diagnoses(argo_cluster: Any, go_new: Any, tmp_path: Path) -> None:
    long_named_leader(argo_cluster, go_new)
    common = ("--kubeconfig", str(argo_cluster.kubeconfig), "--pod", LONG_POD, "--seconds", "1", "--json")
    code, stdout, stderr = invoke("cpu", *common, "--format", "html,speedscope,folded,top", "--output-dir",
                                  str(tmp_path))
    assert code == 0, stderr
    for path in strict(stdout)["files"].values():
        assert Path(path).is_file() and Path(path).name.startswith("argo-rollouts-controller-replica-")
    code, stdout, stderr = invoke("diagnose", "high-cpu", *common, "--output-dir", str(tmp_path), "--cooldown", "0")
    assert code == 0, stderr
    assert Path(strict(stdout)["report"]).is_file()


def test_bundle_with_non_finite_metrics_keeps_its_archive(argo_cluster: Any, metrics_page: MetricsPage,
                                                          tmp_path: Path) -> None:  # fmt: skip
    """process_resident_memory_bytes +Inf and go_goroutines NaN on the metrics port: the guard warns, the bundle
    is complete, and its manifest and --json are strict JSON."""
    scenario = argo_cluster.scenario
    metrics_page.page = NON_FINITE + BAD_RECONCILE
    argo_cluster.server.route_port(scenario.namespace, scenario.leader_pod, 8090, "127.0.0.1", metrics_page.port)
    code, stdout, stderr = invoke("bundle", "--kubeconfig", str(argo_cluster.kubeconfig), "--seconds", "1",
                                  "--output-dir", str(tmp_path), "--json")
    assert code == 0, stderr
    result = strict(stdout)
    assert "go_goroutines NaN" in stderr and result["load"]["goroutines"] is None
    with tarfile.open(result["archive"]) as archive:
        manifest = next(member for member in archive if member.name.endswith("/manifest.json"))
        strict(archive.extractfile(manifest).read().decode())  # type: ignore[union-attr]


def test_every_json_output_goes_through_the_strict_helper(argo_cluster: Any) -> None:
    """No command writes JSON but through safe.dumps (allow_nan=False) — requests to the cluster and its
    credential plugins aside; the cluster commands' documents parse strictly too."""
    package = Path(__file__).resolve().parent.parent / "kubectl_rollouts_profile"
    for module in package.rglob("*.py"):
        if module.name != "safe.py" and module.parent.name != "cluster":
            assert "json.dumps(" not in module.read_text(), module
    for command in ("targets", "check"):
        code, stdout, stderr = invoke(command, "--kubeconfig", str(argo_cluster.kubeconfig), "--json")
        assert code == 0, stderr
        strict(stdout)


def test_the_readme_limits_table_lists_every_bound_of_the_budget() -> None:
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    table = readme.split("## Limits", 1)[1].split("\n## ", 1)[0]
    for bound in dataclasses.fields(Budget):
        assert f"`{bound.name}`" in table, bound.name


# ----- case 12: a run directory is complete or explained --------------------------------------------------------------

def test_a_failed_cold_start_leaves_no_directory(argo_cluster: Any, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    code, _, stderr = invoke("diagnose", "cold-start", "--kubeconfig", str(argo_cluster.kubeconfig), "--wait", "1s",
                             "--seconds", "1", "--output-dir", str(out))
    assert code == 3, stderr
    assert list(out.iterdir()) == []


def test_a_run_that_fails_midway_keeps_its_files_with_a_readme(metrics_page: MetricsPage, tmp_path: Path) -> None:
    """The metrics are read, then the heap capture gets a page that is not a profile (exit 8): the directory
    keeps metrics-start.txt with a README saying what is missing, and the message says so."""
    metrics_page.page = b"# TYPE go_goroutines gauge\ngo_goroutines 12\n"
    code, _, stderr = invoke("diagnose", "memory-growth", "--url", metrics_page.url.removesuffix("/metrics"),
                             "--metrics-url", metrics_page.url, "--over", "1s", "--output-dir", str(tmp_path))
    assert code == 8, stderr
    (run,) = tmp_path.iterdir()
    assert sorted(path.name for path in run.iterdir()) == ["README", "metrics-start.txt"]
    readme = (run / "README").read_text()
    assert "metrics-start.txt" in readme and "report.html" in readme and "heap" in readme
    assert f"kept in {run}" in stderr and "cleaned up" not in stderr


def test_sigterm_during_diagnose_keeps_what_was_written_and_says_so(go_new: Any, tmp_path: Path) -> None:
    child = subprocess.Popen(
        [str(PLUGIN), "diagnose", "goroutine-leak", "--url", go_new.base_url, "--over", "120s", "--output-dir",
         str(tmp_path)], env=plugin_env(), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60

    def first_snapshot_taken() -> bool:
        return any("-goroutine-001-" in path.name for run in tmp_path.iterdir() for path in run.iterdir())

    while not first_snapshot_taken():
        assert child.poll() is None and time.monotonic() < deadline
        time.sleep(0.05)
    child.send_signal(signal.SIGTERM)
    _, stderr = child.communicate(timeout=60)
    assert child.returncode == 143, stderr
    (run,) = tmp_path.iterdir()
    names = sorted(path.name for path in run.iterdir())
    assert "README" in names and "report.html" not in names and not any(name.startswith(".") for name in names)
    assert "SIGTERM" in (run / "README").read_text()
    assert "stopped and cleaned up" not in stderr and f"kept in {run}" in stderr


def test_an_output_directory_too_deep_for_path_max_is_refused_first(tmp_path: Path) -> None:
    deep = tmp_path
    while len(os.fsencode(deep)) < 3900:
        deep = deep / ("d" * 240)
    deep.mkdir(parents=True)
    code, _, stderr = invoke("heap", "--url", "http://127.0.0.1:1", "--output-dir", str(deep))  # never contacted
    assert code == 9 and "nested too deep" in stderr and "PATH_MAX" in stderr, stderr
