"""The capture pipeline against faults on loopback: a trickling and a silent server, a full disk (a small tmpfs
where one can be mounted, a file-size limit otherwise), concurrent captures into one directory, SIGTERM, and
destinations that must be refused before anything is contacted."""

from __future__ import annotations

import json
import os
import resource
import signal
import subprocess
import threading
from pathlib import Path
from typing import Any

import pytest

from kubectl_rollouts_profile.errors import ConnectionFailed
from kubectl_rollouts_profile.kinds import KINDS
from kubectl_rollouts_profile.pipeline import CaptureSpec, Destination, Endpoint, run_capture
from tests.clitools import PLUGIN, files_in, plugin_env, run_plugin
from tests.netfaults import CuttingRelay, FixedResponseServer, SilentServer, TrickleServer


def endpoint_for(base_url: str, where: str = "the test server") -> Endpoint:
    return Endpoint(base_url=base_url, source_name="fault-test", where=where)


def test_a_trickling_body_is_cut_at_the_deadline_and_names_the_stage(tmp_path: Path) -> None:
    server = TrickleServer(interval=0.05, body_size=4000)  # would take ~200 s to finish
    spec = CaptureSpec(kind=KINDS["heap"], seconds=None, destination=Destination(directory=tmp_path),
                       deadline_seconds=1.0)
    try:
        with pytest.raises(ConnectionFailed) as caught:
            run_capture(spec, endpoint_for(server.base_url))
    finally:
        server.close()
    message = str(caught.value)
    assert "the test server stalled" in message and "bytes of the heap profile" in message
    assert files_in(tmp_path) == []


def test_a_silent_server_is_reported_as_not_answering(tmp_path: Path) -> None:
    server = SilentServer()
    spec = CaptureSpec(kind=KINDS["goroutine"], seconds=None, destination=Destination(directory=tmp_path),
                       deadline_seconds=1.0)
    try:
        with pytest.raises(ConnectionFailed, match="the test server did not start answering within 1s"):
            run_capture(spec, endpoint_for(server.base_url))
    finally:
        server.close()
    assert files_in(tmp_path) == []


def test_concurrent_captures_into_one_directory_all_keep_their_files(go_new: Any, tmp_path: Path) -> None:
    spec = CaptureSpec(kind=KINDS["goroutine"], seconds=None, destination=Destination(directory=tmp_path),
                       exports=("top",))
    outcomes: list[Any] = []
    errors: list[BaseException] = []
    start = threading.Barrier(8)

    def capture() -> None:
        start.wait()
        try:
            outcomes.append(run_capture(spec, endpoint_for(go_new.base_url)))
        except BaseException as error:  # handed to the test thread
            errors.append(error)

    workers = [threading.Thread(target=capture) for _ in range(8)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
    assert errors == []
    raw = {outcome.files["pprof"] for outcome in outcomes}
    tops = {outcome.files["top"] for outcome in outcomes}
    assert len(raw) == 8 and len(tops) == 8
    assert sorted(files_in(tmp_path)) == sorted(Path(path).name for path in raw | tops)  # no temp file left


def _limit_file_size(max_bytes: int) -> Any:
    def apply() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG instead
        resource.setrlimit(resource.RLIMIT_FSIZE, (max_bytes, max_bytes))

    return apply


def run_limited(max_file_bytes: int, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(PLUGIN), *args], cwd=cwd, env=plugin_env(), stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=120, preexec_fn=_limit_file_size(max_file_bytes))


def test_disk_full_during_the_capture_is_exit_9_and_leaves_nothing(go_new: Any, tmp_path: Path) -> None:
    result = run_limited(300, "heap", "--url", go_new.base_url, cwd=tmp_path)  # a heap profile is ~700 bytes
    assert result.returncode == 9, result.stderr
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "File too large" in errors[0], result.stderr
    assert result.stdout == ""
    assert files_in(tmp_path) == []


def test_an_export_that_does_not_fit_still_reports_the_saved_profile(tmp_path: Path) -> None:
    # One fixed heap profile (not the live target's, whose size varies with what it has allocated), so the sizes
    # are known: a file-size limit between the raw profile (and its top table) and the flame graph page lets the
    # first two be written and not the page.
    from kubectl_rollouts_profile.export import render
    from kubectl_rollouts_profile.pprof.decode import decode_profile
    from kubectl_rollouts_profile.pprof.encode import encode_profile
    from tests.test_pprof_evidence import heap_profile

    body = encode_profile(heap_profile(8 << 20))
    profile = decode_profile(body)
    fits = max(len(body), len(render(profile, "top", title="x")) + 200)
    page = len(render(profile, "html", title="x"))
    assert page > 2 * fits
    server = FixedResponseServer("200 OK", "application/octet-stream", body)
    try:
        result = run_limited((fits + page) // 2, "heap", "--url", server.base_url, "--format", "top,html", "--json",
                             cwd=tmp_path)
    finally:
        server.close()
    assert result.returncode == 9, result.stderr
    summary = json.loads(result.stdout)
    saved = tmp_path / summary["files"]["pprof"]
    assert saved.exists() and "top" in summary["files"] and "html" not in summary["files"]
    assert "File too large" in summary["missing"]["html"]
    error = next(line for line in result.stderr.splitlines() if line.startswith("error:"))
    assert summary["files"]["pprof"] in error and "html" in error
    assert sorted(files_in(tmp_path)) == sorted(Path(path).name for path in summary["files"].values())


def test_a_full_disk_is_refused_before_the_capture(full_disk: Path, tmp_path: Path) -> None:
    server = SilentServer()  # counts every connection made to it
    try:
        result = run_plugin("cpu", "--url", server.base_url, "--seconds", "30", "--output-dir", str(full_disk),
                            cwd=tmp_path)
    finally:
        server.close()
    assert result.returncode == 9, result.stderr
    assert "KiB free" in result.stderr and server.clients == []
    assert files_in(full_disk) == ["filler"]


def test_dangling_symlink_at_output_is_refused_before_the_capture(tmp_path: Path) -> None:
    (tmp_path / "link.pb.gz").symlink_to(tmp_path / "absent-target")
    server = SilentServer()
    try:
        result = run_plugin("heap", "--url", server.base_url, "-o", str(tmp_path / "link.pb.gz"), cwd=tmp_path)
    finally:
        server.close()
    assert result.returncode == 9 and "already exists" in result.stderr
    assert server.clients == []
    assert not (tmp_path / "absent-target").exists()


def test_sigterm_during_a_cpu_capture_cleans_up_and_exits_143(go_factory: Any, tmp_path: Path) -> None:
    target = go_factory()
    relay = CuttingRelay(upstream=("127.0.0.1", target.pprof_port))
    process = subprocess.Popen([str(PLUGIN), "cpu", "--url", relay.base_url, "--seconds", "60"], cwd=tmp_path,
                               env=plugin_env(), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    assert relay.wait_for_request("GET /debug/pprof/profile/?seconds=60")
    assert any(name.endswith(".part") for name in os.listdir(tmp_path))  # the temp file exists while it runs
    process.send_signal(signal.SIGTERM)
    stdout, stderr = process.communicate(timeout=30)
    relay.close()
    assert process.returncode == 143, stderr
    assert stdout == "" and "Traceback" not in stderr
    assert stderr.strip().splitlines()[-1] == "terminated by SIGTERM: stopped and cleaned up"
    assert files_in(tmp_path) == []
