"""``analyze`` as a user runs it (the installed console script): files and a real bundle of the Go target, the
text and JSON outputs, the report file, and bad input (one line, an exit code, nothing written)."""

from __future__ import annotations

import json
import os
import stat
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.analysis_material import QUIET, fetch, fetch_metrics, make_bundle, snapshot, wait_until
from tests.clitools import run_plugin
from tests.goproc import GoTarget, start_gotarget


@pytest.fixture(scope="module")
def stuck_target() -> Iterator[GoTarget]:
    target = start_gotarget("--workloads", "stuck-http", *QUIET, metrics=True)
    yield target
    target.stop()


@pytest.fixture(scope="module")
def leak_files(stuck_target: GoTarget, tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    out = tmp_path_factory.mktemp("leak")
    first = fetch(stuck_target, "goroutine", out / "goroutine-1.pb.gz")
    count = snapshot(stuck_target).goroutines or 0
    wait_until(lambda: (snapshot(stuck_target).goroutines or 0) >= count + 60, what="60 more goroutines")
    return [first, fetch(stuck_target, "goroutine", out / "goroutine-2.pb.gz"),
            fetch_metrics(stuck_target, out / "metrics.txt")]


def test_text_output_names_the_finding_and_the_subsystems(leak_files: list[Path], tmp_path: Path) -> None:
    result = run_plugin("analyze", *map(str, leak_files), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "[warning] goroutine-growth:" in result.stdout
    assert "metric provider: web" in result.stdout and "next step:" in result.stdout
    assert "by subsystem" in result.stdout
    assert result.stderr == ""


def test_json_output_carries_id_severity_evidence_numbers(leak_files: list[Path], tmp_path: Path) -> None:
    result = run_plugin("analyze", "--json", "--by", "package", "--rows", "5", *map(str, leak_files), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    (finding,) = document["findings"]
    assert (finding["id"], finding["severity"], finding["subsystem"]) == (
        "goroutine-growth", "warning", "metric provider: web")  # fmt: skip
    assert finding["numbers"]["growth"] >= 60 and finding["evidence"] and finding["nextStep"]
    assert [p["kind"] for p in document["profiles"]] == ["goroutine", "goroutine"]
    assert all(p["by"] == "package" and len(p["rows"]) <= 5 for p in document["profiles"])
    assert document["metrics"]["goroutines"] > 60 and document["report"] is None


def test_html_report_is_written_0600_and_its_path_printed(leak_files: list[Path], tmp_path: Path) -> None:
    report = tmp_path / "report.html"
    result = run_plugin("analyze", "--html", str(report), *map(str, leak_files), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.rstrip().splitlines()[-1] == str(report)
    assert stat.S_IMODE(report.stat().st_mode) == 0o600
    assert b'data-finding="goroutine-growth"' in report.read_bytes()
    again = run_plugin("analyze", "--html", str(report), *map(str, leak_files), cwd=tmp_path)
    assert again.returncode == 9 and "--force" in again.stderr  # an existing report is not replaced silently


def test_bad_input_is_one_line_an_exit_code_and_nothing_written(tmp_path: Path) -> None:
    garbage = tmp_path / "heap.pb.gz"
    garbage.write_bytes(b"\x1f\x8b\x08\x00 this is not gzip")
    report = tmp_path / "report.html"
    result = run_plugin("analyze", "--html", str(report), str(garbage), cwd=tmp_path)
    assert result.returncode == 8
    assert result.stderr.splitlines()[0].startswith("error: heap.pb.gz: decompressing profile:")
    assert result.stderr.splitlines()[1].startswith("hint: ")
    assert not report.exists() and sorted(p.name for p in tmp_path.iterdir()) == ["heap.pb.gz"]
    missing = run_plugin("analyze", str(tmp_path / "nope.pb.gz"), cwd=tmp_path)
    assert missing.returncode == 2 and "no such file" in missing.stderr.lower()
    fifo = tmp_path / "fifo.pb.gz"
    os.mkfifo(fifo)  # no writer: reading it would block for ever
    refused = run_plugin("analyze", str(fifo), cwd=tmp_path, timeout=60)
    assert refused.returncode == 2 and "a FIFO" in refused.stderr


def test_a_bundle_of_a_leaking_controller(kube_api, stuck_target: GoTarget, tmp_path: Path) -> None:
    archive = make_bundle(kube_api, stuck_target, tmp_path, seconds=2)
    result = run_plugin("analyze", "--json", str(archive), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    growth = [f for f in document["findings"] if f["id"] == "goroutine-growth"]
    assert growth and growth[0]["subsystem"] == "metric provider: web"
    assert growth[0]["source"] == "before/goroutine.pb.gz -> after/goroutine.pb.gz"
    kinds = {p["name"]: p["kind"] for p in document["profiles"]}
    assert kinds["cpu.pb.gz"] == "cpu" and kinds["allocs.pb.gz"] == "allocs" and kinds["after/heap.pb.gz"] == "heap"
    assert document["facts"]["pod"] and document["facts"]["leader"].startswith(document["facts"]["pod"])
    assert document["metrics"]["goroutines"] > 0
    # The bundle carries its incident report, and writes it beside the archive (0600) too.
    beside = archive.with_name(archive.name.removesuffix(".tar.gz") + ".report.html")
    assert stat.S_IMODE(beside.stat().st_mode) == 0o600
    with tarfile.open(archive) as tar:
        inside = tar.extractfile(f"{archive.name.removesuffix('.tar.gz')}/report.html").read()
    assert inside == beside.read_bytes()
    assert b'data-finding="goroutine-growth"' in inside and b'<iframe class="flame"' in inside


def test_top_by_subsystem_on_convert_diff_and_capture(leak_files: list[Path], go_new: GoTarget,
                                                      tmp_path: Path) -> None:  # fmt: skip
    first, second = str(leak_files[0]), str(leak_files[1])
    converted = run_plugin("convert", second, "--format", "top", "--by", "subsystem", cwd=tmp_path)
    assert converted.returncode == 0, converted.stderr
    assert "by subsystem" in converted.stdout and "metric provider: web" in converted.stdout
    by_package = run_plugin("convert", second, "--format", "top", "--by", "package", "--nodes", "3", cwd=tmp_path)
    assert "by package" in by_package.stdout and "more rows" in by_package.stdout
    grown = run_plugin("diff", first, second, "--by", "subsystem", cwd=tmp_path)
    assert grown.returncode == 0, grown.stderr
    web = next(line for line in grown.stdout.splitlines() if line.endswith("metric provider: web"))
    assert int(web.split()[2]) >= 15  # cum: one goroutine in three that grew waits in the provider
    captured = run_plugin("heap", "--url", go_new.base_url, "--top", "--by", "subsystem", "--format", "none",
                          cwd=tmp_path)  # fmt: skip
    assert captured.returncode == 0, captured.stderr
    assert "by subsystem" in captured.stdout and "Type: inuse_space" in captured.stdout


def test_by_needs_a_top_table(leak_files: list[Path], tmp_path: Path) -> None:
    wrong = run_plugin("convert", str(leak_files[0]), "--format", "html", "--by", "subsystem", cwd=tmp_path)
    assert wrong.returncode == 2 and "--format top" in wrong.stderr
    no_top = run_plugin("heap", "--url", "http://127.0.0.1:9", "--by", "package", cwd=tmp_path)
    assert no_top.returncode == 2 and "add --top" in no_top.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == []
