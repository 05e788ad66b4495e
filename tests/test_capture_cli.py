"""The capture core end to end: the console script against the real Go pprof target, in both mux layouts."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import pty
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import pytest
import requests

from kubectl_rollouts_profile.capture import fetch_text
from tests.clitools import PLUGIN, files_in, plugin_env, run_plugin
from tests.netfaults import CuttingRelay, FixedResponseServer

NAMED = ["heap", "allocs", "goroutine", "block", "mutex", "threadcreate"]
NAME_RE = r"127\.0\.0\.1-\d+-{kind}-\d{{8}}T\d{{6}}Z{ext}"


def go_tool_pprof_reads(path: Path) -> str:
    """go tool pprof is the reference decoder: a file it cannot read is not a profile."""
    result = subprocess.run(
        [shutil.which("go") or "go", "tool", "pprof", "-raw", str(path)], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def assert_private(path: Path) -> None:
    assert path.stat().st_mode & 0o777 == 0o600


@pytest.mark.parametrize("kind", ["cpu", *NAMED])
def test_every_pprof_kind_new_layout(go_rates, tmp_path, kind):
    seconds = ["--seconds", "1"] if kind == "cpu" else []
    result = run_plugin(kind, "--url", go_rates.base_url, *seconds, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    paths = result.stdout.splitlines()
    written = Path(tmp_path / paths[0])
    assert re.fullmatch(NAME_RE.format(kind=kind, ext=r"\.pb\.gz"), written.name)
    stem = written.name[: -len(".pb.gz")]
    # By default the raw pprof is joined by its speedscope and flame graph exports, and nothing else is left.
    assert paths == [written.name, stem + ".speedscope.json", stem + ".html"]
    assert files_in(tmp_path) == sorted(paths)
    for path in paths:
        assert_private(tmp_path / path)
    assert gzip.decompress(written.read_bytes())
    raw = go_tool_pprof_reads(written)
    assert "Samples:" in raw or "samples/count" in raw or "PeriodType" in raw


def test_trace_new_layout(go_new, tmp_path):
    result = run_plugin("trace", "--url", go_new.base_url, "--seconds", "1", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    written = tmp_path / result.stdout.strip()
    assert re.fullmatch(NAME_RE.format(kind="trace", ext=r"\.trace"), written.name)
    assert files_in(tmp_path) == [written.name]  # a trace has no pprof exports
    assert written.read_bytes().startswith(b"go 1.")
    assert_private(written)


@pytest.mark.parametrize("kind", ["cpu", "trace"])
def test_timed_kinds_old_layout(go_old, tmp_path, kind):
    result = run_plugin(kind, "--url", go_old.base_url, "--seconds", "1", "--format", "none", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    written = tmp_path / result.stdout.strip()
    assert written.stat().st_size > 0
    if kind == "cpu":
        go_tool_pprof_reads(written)


@pytest.mark.parametrize("kind", NAMED)
def test_named_kinds_not_served_by_old_layout(go_old, tmp_path, kind):
    result = run_plugin(kind, "--url", go_old.base_url, cwd=tmp_path)
    assert result.returncode == 5
    assert (
        f"error: this controller's pprof server does not serve '{kind}' (older Argo Rollouts layout, v1.8.0-rc1); "
        "cpu, trace are available" in result.stderr
    )
    assert files_in(tmp_path) == []


def test_redirect_is_followed_with_query_kept(go_new, tmp_path):
    relay = CuttingRelay(upstream=("127.0.0.1", go_new.pprof_port))
    try:
        result = run_plugin("cpu", "--url", relay.base_url, "--seconds", "1", "--json", cwd=tmp_path)
    finally:
        relay.close()
    assert result.returncode == 0, result.stderr
    assert relay.request_lines[:2] == [
        "GET /debug/pprof/profile?seconds=1 HTTP/1.1",
        "GET /debug/pprof/profile/?seconds=1 HTTP/1.1",
    ]
    assert json.loads(result.stdout)["seconds"] == 1


def test_cmdline_is_never_fetched(go_new, tmp_path):
    relay = CuttingRelay(upstream=("127.0.0.1", go_new.pprof_port))
    try:
        for kind in NAMED:
            assert run_plugin(kind, "--url", relay.base_url, "--format", "none", cwd=tmp_path).returncode == 0
    finally:
        relay.close()
    assert len(relay.request_lines) == len(NAMED)
    assert not [line for line in relay.request_lines if "cmdline" in line]
    with pytest.raises(ValueError, match="never fetched"):
        fetch_text(go_new.base_url, "/debug/pprof/cmdline")


@pytest.mark.parametrize("seconds", ["0", "301", "-5"])
def test_seconds_out_of_bounds_is_a_usage_error_before_any_contact(tmp_path, seconds):
    relay_nobody = "http://127.0.0.1:9"  # nothing listens: a contact attempt would give exit 7
    result = run_plugin("cpu", "--url", relay_nobody, "--seconds", seconds, cwd=tmp_path)
    assert result.returncode == 2
    assert "--seconds must be between 1 and 300" in result.stderr
    assert files_in(tmp_path) == []


def test_stdout_output_refused_on_a_terminal(go_new, tmp_path):
    leader, follower = pty.openpty()
    try:
        process = subprocess.run(
            [str(PLUGIN), "heap", "--url", go_new.base_url, "-o", "-"],
            cwd=tmp_path,
            env=plugin_env(),
            stdin=subprocess.DEVNULL,
            stdout=follower,
            stderr=subprocess.PIPE,
            text=True,
            timeout=60,
        )
    finally:
        os.close(follower)
        os.close(leader)
    assert process.returncode == 2
    assert "refusing to write binary profile data to a terminal" in process.stderr


def test_stdout_output_when_redirected(go_new, tmp_path):
    result = subprocess.run(
        [str(PLUGIN), "heap", "--url", go_new.base_url, "-o", "-"],
        cwd=tmp_path,
        env=plugin_env(),
        capture_output=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout[:2] == b"\x1f\x8b"
    assert files_in(tmp_path) == []


def test_connection_refused(tmp_path):
    result = run_plugin("heap", "--url", "http://127.0.0.1:9", cwd=tmp_path)
    assert result.returncode == 7
    assert "connection refused" in result.stderr
    assert files_in(tmp_path) == []


def test_connection_closed_mid_body(go_new, tmp_path):
    relay = CuttingRelay(upstream=("127.0.0.1", go_new.pprof_port), cut_after=600)
    try:
        result = run_plugin("heap", "--url", relay.base_url, cwd=tmp_path)
    finally:
        relay.close()
    assert result.returncode == 7, result.stderr
    assert "closed after" in result.stderr
    assert files_in(tmp_path) == []


def test_html_instead_of_a_profile(tmp_path):
    server = FixedResponseServer("200 OK", "text/html; charset=utf-8", b"<html><body>login</body></html>")
    try:
        result = run_plugin("heap", "--url", server.base_url, cwd=tmp_path)
    finally:
        server.close()
    assert result.returncode == 8
    assert "got an HTML page instead of a heap profile" in result.stderr
    assert files_in(tmp_path) == []


def test_body_over_max_bytes(go_new, tmp_path):
    result = run_plugin("heap", "--url", go_new.base_url, "--max-bytes", "100", cwd=tmp_path)
    assert result.returncode == 8
    assert "--max-bytes" in result.stderr
    assert files_in(tmp_path) == []


def test_second_concurrent_cpu_capture_is_busy(go_factory, tmp_path):
    target = go_factory()
    first = requests.Session()
    long_url = target.base_url + "/debug/pprof/profile/?seconds=60"

    def start_long_capture() -> threading.Thread:
        def capture() -> None:
            try:
                first.get(long_url, timeout=90)
            except requests.RequestException:
                pass  # ended by closing the session below

        worker = threading.Thread(target=capture, daemon=True)
        worker.start()
        return worker

    # Wait until the long capture holds the profiler: a short probe then answers 500. A probe can win the race
    # against the long capture (which then got the 500 and ended): start it again.
    worker = start_long_capture()
    for _ in range(20):
        probe = requests.get(target.base_url + "/debug/pprof/profile/?seconds=1", timeout=10)
        if probe.status_code == 500:
            break
        if not worker.is_alive():
            worker = start_long_capture()
    else:
        pytest.fail("the long capture never held the CPU profiler")
    result = run_plugin("cpu", "--url", target.base_url, "--seconds", "1", cwd=tmp_path)
    first.close()
    target.stop()
    assert result.returncode == 6
    assert "cpu profiling already in use" in result.stderr
    assert files_in(tmp_path) == []


def test_unwritable_output_directory(go_new, tmp_path):
    base = Path(tempfile.mkdtemp(prefix="unwritable-"))  # world-traversable, unlike pytest's tmp_path parents
    locked = base / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    command = [str(PLUGIN), "heap", "--url", go_new.base_url, "--output-dir", str(locked)]
    if os.geteuid() == 0:
        # root ignores directory permissions: run as nobody, as a runbook's unprivileged user would.
        base.chmod(0o755)
        command = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", *command]
    result = subprocess.run(command, cwd="/", env=plugin_env(), capture_output=True, text=True, timeout=60)
    assert result.returncode == 9, result.stderr
    assert "is not writable" in result.stderr
    assert files_in(locked) == []
    shutil.rmtree(base)


def test_missing_output_directory(go_new, tmp_path):
    result = run_plugin("heap", "--url", go_new.base_url, "--output-dir", str(tmp_path / "nope"), cwd=tmp_path)
    assert result.returncode == 9
    assert "does not exist" in result.stderr


def test_existing_file_is_kept_unless_forced(go_new, tmp_path):
    target_file = tmp_path / "heap.pb.gz"
    target_file.write_bytes(b"keep me")
    refused = run_plugin("heap", "--url", go_new.base_url, "-o", str(target_file), "--format", "none", cwd=tmp_path)
    assert refused.returncode == 9
    assert target_file.read_bytes() == b"keep me"
    forced = run_plugin(
        "heap", "--url", go_new.base_url, "-o", str(target_file), "--force", "--format", "none", cwd=tmp_path
    )
    assert forced.returncode == 0, forced.stderr
    assert target_file.read_bytes()[:2] == b"\x1f\x8b"
    assert files_in(tmp_path) == ["heap.pb.gz"]
    assert_private(target_file)


def test_sigint_during_cpu_capture(go_factory, tmp_path):
    target = go_factory()
    relay = CuttingRelay(upstream=("127.0.0.1", target.pprof_port))
    process = subprocess.Popen(
        [str(PLUGIN), "cpu", "--url", relay.base_url, "--seconds", "60"],
        cwd=tmp_path,
        env=plugin_env(),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    # Interrupt only once the profile request (after the redirect) has reached the target.
    assert relay.wait_for_request("GET /debug/pprof/profile/?seconds=60")
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=30)
    relay.close()
    assert process.returncode == 130, stderr
    assert stdout == ""
    assert "Traceback" not in stderr
    assert files_in(tmp_path) == []


def test_json_matches_the_file_on_disk(go_new, tmp_path):
    result = run_plugin("goroutine", "--url", go_new.base_url, "--json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)  # exactly one JSON object, nothing else on stdout
    expected = {"kind", "target", "seconds", "started_at", "finished_at", "files", "bytes", "sha256", "warnings"}
    assert set(report) >= expected
    written = Path(tmp_path / report["files"]["pprof"])
    data = written.read_bytes()
    assert report["bytes"] == len(data)
    assert report["sha256"] == hashlib.sha256(data).hexdigest()
    assert report["kind"] == "goroutine"
    assert report["warnings"] == []


def test_quiet_prints_only_the_path(go_new, tmp_path):
    result = run_plugin("heap", "--url", go_new.base_url, "--quiet", cwd=tmp_path)
    assert result.returncode == 0
    assert sorted(result.stdout.splitlines()) == files_in(tmp_path)
    assert len(files_in(tmp_path)) == 3
    assert result.stderr == ""


@pytest.mark.parametrize("kind", ["block", "mutex"])
def test_empty_block_and_mutex_profiles_warn(go_new, tmp_path, kind):
    result = run_plugin(kind, "--url", go_new.base_url, "--json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert len(report["warnings"]) == 1
    assert "has not called runtime.Set" in report["warnings"][0]
    assert "warning: the " + kind in result.stderr


def test_rate_enabled_block_profile_does_not_warn(go_rates, tmp_path):
    result = run_plugin("block", "--url", go_rates.base_url, "--json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["warnings"] == []


def test_url_must_be_a_base_url(tmp_path):
    result = run_plugin("heap", "--url", "http://127.0.0.1:6060/debug/pprof/heap", cwd=tmp_path)
    assert result.returncode == 2
    assert "--url http://127.0.0.1:6060" in result.stderr


def test_help_does_not_import_heavy_modules(tmp_path):
    probe = (
        "import sys\n"
        "from kubectl_rollouts_profile.cli import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        "heavy = [m for m in ('kubernetes', 'google.protobuf', 'requests', 'numpy') if m in sys.modules]\n"
        "print(heavy, file=sys.stderr)\n"
    )
    result = subprocess.run([str(PLUGIN.parent / "python"), "-c", probe], capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode == 0
    assert result.stderr.strip() == "[]"
    for command in ("cpu", "heap"):
        sub = run_plugin(command, "--help", cwd=tmp_path)
        assert sub.returncode == 0 and "--seconds" in sub.stdout


def test_export_formats_and_top(go_new, tmp_path):
    result = run_plugin(
        "heap", "--url", go_new.base_url, "--format", "top,folded", "--format", "speedscope", "--top", cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    stem = Path(lines[0]).name[: -len(".pb.gz")]
    assert lines[1:4] == [stem + ".top.txt", stem + ".folded.txt", stem + ".speedscope.json"]
    top_table = "\n".join(lines[4:])
    assert "flat%" in top_table and "main.retainMemory" in top_table
    assert "main.retainMemory" in (tmp_path / (stem + ".top.txt")).read_text()
    speedscope = json.loads((tmp_path / (stem + ".speedscope.json")).read_text())
    assert speedscope["$schema"] == "https://www.speedscope.app/file-format-schema.json"


def test_json_lists_every_written_file(go_new, tmp_path):
    result = run_plugin("goroutine", "--url", go_new.base_url, "--json", "--format", "html", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    files = json.loads(result.stdout)["files"]
    assert set(files) == {"pprof", "html"}
    assert sorted(Path(path).name for path in files.values()) == files_in(tmp_path)


def test_redact_strips_paths_and_build_ids(go_new, tmp_path):
    plain = run_plugin("heap", "--url", go_new.base_url, "--format", "none", "-o", "plain.pb.gz", cwd=tmp_path)
    redacted = run_plugin(
        "heap", "--url", go_new.base_url, "--redact", "--format", "none", "-o", "redacted.pb.gz", "--json",
        cwd=tmp_path,
    )
    assert plain.returncode == 0 and redacted.returncode == 0, redacted.stderr
    binary_path = str(go_new.args[0])
    assert binary_path in go_tool_pprof_reads(tmp_path / "plain.pb.gz")
    redacted_raw = go_tool_pprof_reads(tmp_path / "redacted.pb.gz")  # still a profile go can read
    assert binary_path not in redacted_raw
    report = json.loads(redacted.stdout)
    assert report["sha256"] == hashlib.sha256((tmp_path / "redacted.pb.gz").read_bytes()).hexdigest()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["trace", "--format", "html"], "trace data is not a pprof profile"),
        (["heap", "--format", "svg"], "unknown --format 'svg'"),
        (["heap", "--top", "--json"], "--top prints to stdout"),
        (["heap", "-o", "-", "--format", "html"], "-o - writes only the raw profile"),
        (["heap", "--pod", "x"], "cannot be combined with --pod"),
    ],
)
def test_export_usage_errors(tmp_path, args, message):
    result = run_plugin(*args, "--url", "http://127.0.0.1:9", cwd=tmp_path)
    assert result.returncode == 2
    assert message in result.stderr


def test_progress_bar_on_a_terminal_and_two_lines_on_a_log(go_new, tmp_path):
    leader, follower = pty.openpty()
    try:
        process = subprocess.Popen(
            [str(PLUGIN), "cpu", "--url", go_new.base_url, "--seconds", "2", "--format", "none"],
            cwd=tmp_path, env=plugin_env(), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=follower,
        )
        os.close(follower)
        terminal = b""
        while True:
            try:
                chunk = os.read(leader, 4096)
            except OSError:  # EIO: the child closed the terminal
                break
            if not chunk:
                break
            terminal += chunk
        process.wait(timeout=60)
    finally:
        os.close(leader)
    assert process.returncode == 0
    assert b"\rcapturing cpu [#" in terminal and b"s left" in terminal
    logged = run_plugin("cpu", "--url", go_new.base_url, "--seconds", "1", "--format", "none", cwd=tmp_path)
    assert logged.returncode == 0
    assert logged.stderr.splitlines()[:2] == ["capturing cpu profile for 1s", "cpu capture finished after " +
                                              logged.stderr.splitlines()[1].split("after ")[1]]
    assert "\r" not in logged.stderr


def test_open_launches_the_viewer_only_when_asked_or_a_person_is_there(go_new, tmp_path):
    opened = tmp_path / "opened.txt"
    browser = tmp_path / "browser.sh"
    browser.write_text(f'#!/bin/sh\necho "$1" > {opened}.part && mv {opened}.part {opened}\n')
    browser.chmod(0o755)
    out = tmp_path / "out"
    out.mkdir()
    env = plugin_env(BROWSER=str(browser), DISPLAY=":0")
    env.pop("CI", None)
    # stdout is a pipe here: nobody is looking, so the default never opens anything.
    quiet = run_plugin("heap", "--url", go_new.base_url, cwd=out, env=env)
    assert quiet.returncode == 0
    assert not opened.exists()
    asked = run_plugin("heap", "--url", go_new.base_url, "--open", "--json", "--force", cwd=out, env=env)
    assert asked.returncode == 0, asked.stderr
    html = json.loads(asked.stdout)["files"]["html"]
    deadline = time.monotonic() + 30
    while not opened.exists() and time.monotonic() < deadline:
        time.sleep(0.05)  # the viewer is launched detached; wait for its side effect
    assert opened.read_text().strip() == Path(out / html).resolve().as_uri()


def test_redact_strips_source_file_names_from_the_pprof_and_every_export(go_new, tmp_path):
    from kubectl_rollouts_profile.pprof.decode import decode_profile

    plain = run_plugin("heap", "--url", go_new.base_url, "--format", "none", "-o", "plain.pb.gz", cwd=tmp_path)
    assert plain.returncode == 0, plain.stderr
    original = decode_profile((tmp_path / "plain.pb.gz").read_bytes())
    paths = {function.filename for function in original.functions.values()} - {""}
    paths |= {mapping.filename for mapping in original.mappings.values()} - {""}
    assert any(path.endswith("/main.go") for path in paths)
    out = tmp_path / "redacted"
    out.mkdir()
    redacted = run_plugin("heap", "--url", go_new.base_url, "--redact", "--format", "pprof,speedscope,html,top,folded",
                          "--json", "-o", "heap.pb.gz", cwd=out)  # fmt: skip
    assert redacted.returncode == 0, redacted.stderr
    files = json.loads(redacted.stdout)["files"]
    assert set(files) == {"pprof", "speedscope", "html", "top", "folded"}
    for kind, name in files.items():
        data = (out / name).read_bytes()
        text = (gzip.decompress(data) if kind == "pprof" else data).decode("utf-8", errors="replace")
        assert "main.retainMemory" in text, kind
        assert [path for path in paths if path in text] == [], kind
    assert "main.go" not in go_tool_pprof_reads(out / files["pprof"])
