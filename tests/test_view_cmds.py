"""convert and diff, run in-process with click's CliRunner and as the installed console script, on real profiles
from the Go target (a goroutine leak for diff)."""

from __future__ import annotations

import gzip
import json
import os
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from click.testing import CliRunner

from kubectl_rollouts_profile.cli import main
from kubectl_rollouts_profile.pprof.decode import decode_profile
from kubectl_rollouts_profile.pprof.encode import encode_profile
from kubectl_rollouts_profile.pprof.model import Function, Label, Line, Location, Mapping, Profile, ValueType
from tests.clitools import files_in

SCRIPT = Path(sys.executable).parent / "kubectl-rollouts_profile"


def _save(go_target, path: str, file: Path) -> Path:
    response = requests.get(go_target.base_url + path, timeout=30)
    response.raise_for_status()
    file.write_bytes(response.content)
    return file


@pytest.fixture(scope="module")
def heap_file(go_new, tmp_path_factory) -> Path:
    return _save(go_new, "/debug/pprof/heap", tmp_path_factory.mktemp("view") / "heap.pb.gz")


@pytest.fixture(scope="module")
def leak_files(tmp_path_factory):
    """Two goroutine profiles of a process that keeps starting goroutines that never end."""
    from tests.goproc import start_gotarget

    target = start_gotarget("--goroutine-growth", "5ms", "--cpu-burners", "0")
    try:
        folder = tmp_path_factory.mktemp("leak")
        base = _save(target, "/debug/pprof/goroutine", folder / "goroutine-1.pb.gz")
        before = decode_profile(base.read_bytes()).total()
        deadline = time.monotonic() + 30
        while True:  # wait until the leak has grown by a clear margin
            new = _save(target, "/debug/pprof/goroutine", folder / "goroutine-2.pb.gz")
            if decode_profile(new.read_bytes()).total() >= before + 20 or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        return base, new
    finally:
        target.stop()


def invoke(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_convert_top_to_stdout(heap_file):
    result = invoke("convert", str(heap_file), "--format", "top", "--nodes", "3")
    assert result.exit_code == 0, result.output
    assert "Type: inuse_space (bytes)" in result.stdout
    assert "main.retainMemory" in result.stdout
    assert "Showing top 3 nodes" in result.stdout


def test_convert_html_writes_a_private_file_and_prints_its_path(heap_file, tmp_path):
    out = tmp_path / "heap.html"
    result = invoke("convert", str(heap_file), "--format", "html", "-o", str(out))
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == str(out)
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert "main.retainMemory" in out.read_text()


def test_convert_default_name_next_to_the_input(heap_file, tmp_path):
    source = tmp_path / "argo-rollouts-abc-heap.pb.gz"
    source.write_bytes(heap_file.read_bytes())
    result = invoke("convert", str(source), "--format", "speedscope")
    assert result.exit_code == 0, result.output
    written = tmp_path / "argo-rollouts-abc-heap.speedscope.json"
    assert result.stdout.strip() == str(written)
    document = json.loads(written.read_text())
    assert document["name"] == "argo-rollouts-abc-heap inuse_space"


def test_convert_refuses_to_overwrite_without_force(heap_file, tmp_path):
    out = tmp_path / "heap.folded.txt"
    out.write_text("keep me")
    result = invoke("convert", str(heap_file), "--format", "folded", "-o", str(out))
    assert result.exit_code == 9
    assert "already exists" in result.stderr and out.read_text() == "keep me"
    forced = invoke("convert", str(heap_file), "--format", "folded", "-o", str(out), "--force")
    assert forced.exit_code == 0
    assert "main.retainMemory" in out.read_text()


def test_convert_bad_input_exits_8_and_missing_input_exits_2(tmp_path):
    bad = tmp_path / "bad.pb.gz"
    bad.write_bytes(b"\x1f\x8bnot really gzip")
    result = invoke("convert", str(bad), "--format", "top")
    assert result.exit_code == 8
    assert result.stderr.startswith("error: decompressing profile: ")
    assert invoke("convert", str(tmp_path / "missing.pb.gz"), "--format", "top").exit_code == 2


def test_convert_unknown_sample_index_exits_2(heap_file):
    result = invoke("convert", str(heap_file), "--format", "top", "--sample-index", "nope")
    assert result.exit_code == 2
    assert "alloc_space" in result.stderr


def test_convert_speedscope_to_stdout_matches_the_file(heap_file, tmp_path):
    out = tmp_path / "heap.speedscope.json"
    assert invoke("convert", str(heap_file), "--format", "speedscope", "-o", str(out)).exit_code == 0
    streamed = invoke("convert", str(heap_file), "--format", "speedscope", "-o", "-")
    assert streamed.exit_code == 0, streamed.output
    assert json.loads(streamed.stdout) == json.loads(out.read_text())


def test_convert_failing_export_leaves_no_file_behind(heap_file, tmp_path):
    out = tmp_path / "heap.speedscope.json"
    result = invoke("convert", str(heap_file), "--format", "speedscope", "--sample-index", "nope", "-o", str(out))
    assert result.exit_code == 2
    assert list(tmp_path.iterdir()) == []


def _labelled_profile() -> Profile:
    return Profile(
        sample_types=(ValueType("samples", "count"),),
        sample_locations=((1,),),
        sample_values=((3,),),
        sample_labels=((Label("tenant", "acme-corp", 0, ""), Label("bytes", "", 512, "bytes")),),
        locations={1: Location(1, mapping_id=1, address=0x1000, lines=(Line(1, 7),))},
        functions={1: Function(1, "main.work", filename="/home/dev/src/main.go")},
        mappings={1: Mapping(1, 0x1000, 0x2000, 0, "/usr/local/bin/secret-build", "build-id-123", True)},
    )


def test_convert_redact_strips_label_values_paths_and_build_ids(tmp_path):
    source = tmp_path / "labelled.pb.gz"
    source.write_bytes(encode_profile(_labelled_profile()))
    out = tmp_path / "public.pb.gz"
    result = invoke("convert", str(source), "--format", "pprof", "--redact", "-o", str(out))
    assert result.exit_code == 0, result.output
    raw = gzip.decompress(out.read_bytes())
    for secret in (b"acme-corp", b"secret-build", b"build-id-123"):
        assert secret not in raw
    redacted = decode_profile(out.read_bytes())
    assert redacted.sample_labels[0] == (Label("tenant", "redacted", 0, ""), Label("bytes", "", 512, "bytes"))
    assert redacted.total() == 3
    report = subprocess.run(["go", "tool", "pprof", "-raw", str(out)], capture_output=True, text=True, check=True)
    assert "main.work" in report.stdout


def test_redacted_real_heap_is_read_by_go_tool_pprof(heap_file, tmp_path):
    out = tmp_path / "heap.redacted.pb.gz"
    assert invoke("convert", str(heap_file), "--format", "pprof", "--redact", "-o", str(out)).exit_code == 0
    report = subprocess.run(["go", "tool", "pprof", "-top", str(out)], capture_output=True, text=True, check=True)
    assert "main.retainMemory" in report.stdout


def test_pprof_format_without_redact_is_a_usage_error(heap_file):
    assert invoke("convert", str(heap_file), "--format", "pprof").exit_code == 2


def test_diff_top_shows_the_goroutine_leak(leak_files):
    base, new = leak_files
    grown = decode_profile(new.read_bytes()).total() - decode_profile(base.read_bytes()).total()
    assert grown >= 20
    result = invoke("diff", str(base), str(new))
    assert result.exit_code == 0, result.output
    rows = [line.split() for line in result.stdout.splitlines()]
    leak = next(row for row in rows if row and row[-1] == "main.parkLeaked")
    assert int(leak[3]) >= 20  # cum of the leaking function grew
    assert f"of {grown} total" in result.stdout
    assert "Change: grew" in result.stdout


def test_diff_html_is_a_differential_flame_graph(leak_files, tmp_path):
    base, new = leak_files
    out = tmp_path / "leak.html"
    result = invoke("diff", str(base), str(new), "-o", str(out))
    assert result.exit_code == 0, result.output
    page = out.read_text()
    data = json.loads(page.split("const DATA = ", 1)[1].split(";\n", 1)[0])
    assert data["diff"] is True
    leak = data["names"].index("main.parkLeaked")
    node = next(n for n in data["nodes"] if n[0] == leak)
    assert node[2] >= 20  # growth column of the goroutine type
    assert "red grew, blue shrank" in page


def test_diff_to_speedscope_is_refused_with_exit_2(leak_files, tmp_path):
    base, new = leak_files
    result = invoke("diff", str(base), str(new), "--format", "speedscope", "-o", str(tmp_path / "x.json"))
    assert result.exit_code == 2
    assert "speedscope cannot show a diff" in result.stderr
    assert not (tmp_path / "x.json").exists()


def test_diff_of_different_kinds_is_refused(heap_file, leak_files):
    result = invoke("diff", str(heap_file), str(leak_files[0]))
    assert result.exit_code == 2
    assert "different sample types" in result.stderr


def test_console_script_converts_to_stdout(heap_file):
    env = dict(os.environ)
    result = subprocess.run([str(SCRIPT), "convert", str(heap_file), "--format", "folded"],
                            capture_output=True, text=True, env=env, timeout=60)  # fmt: skip
    assert result.returncode == 0, result.stderr
    total = sum(int(line.rsplit(" ", 1)[1]) for line in result.stdout.splitlines())
    assert total == decode_profile(heap_file.read_bytes()).total()
    assert result.stderr == ""


# Input files: one rule for every format (not a profile: exit 8), non-regular files refused before any read, and a
# bounded decompression whatever the input.

ALL_CONVERT_FORMATS = [("speedscope",), ("html",), ("top",), ("folded",), ("pprof", "--redact")]


def _one_error_line(stderr: str) -> str:
    lines = stderr.splitlines()
    assert "Traceback" not in stderr
    assert lines[0].startswith("error: ") and all(line.startswith("hint: ") for line in lines[1:]), stderr
    return lines[0]


@pytest.mark.parametrize("fmt", ALL_CONVERT_FORMATS, ids=lambda fmt: fmt[0])
def test_convert_of_an_empty_file_is_not_a_profile_in_every_format(tmp_path, fmt):
    empty = tmp_path / "empty.pb.gz"
    empty.write_bytes(b"")
    result = invoke("convert", str(empty), "--format", *fmt, "-o", str(tmp_path / "out"))
    assert result.exit_code == 8
    assert "is empty (0 bytes)" in _one_error_line(result.stderr)
    assert files_in(tmp_path) == ["empty.pb.gz"]


@pytest.mark.parametrize("fmt", ALL_CONVERT_FORMATS, ids=lambda fmt: fmt[0])
def test_convert_of_a_profile_without_sample_types_is_not_a_profile_in_every_format(tmp_path, fmt):
    typeless = tmp_path / "typeless.pb.gz"
    typeless.write_bytes(encode_profile(Profile(functions={1: Function(1, "main.main")})))  # valid, not empty
    result = invoke("convert", str(typeless), "--format", *fmt, "-o", str(tmp_path / "out"))
    assert result.exit_code == 8
    assert "not a profile: it has no sample types" in _one_error_line(result.stderr)
    assert files_in(tmp_path) == ["typeless.pb.gz"]


def test_diff_of_an_empty_file_is_not_a_profile(heap_file, tmp_path):
    empty = tmp_path / "empty.pb.gz"
    empty.write_bytes(b"")
    for args in ((str(empty), str(heap_file)), (str(heap_file), str(empty))):
        result = invoke("diff", *args, "-o", str(tmp_path / "d.html"))
        assert result.exit_code == 8
        assert "is empty (0 bytes)" in _one_error_line(result.stderr)
    assert files_in(tmp_path) == ["empty.pb.gz"]


def _run_script(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    # A real process: a FIFO or /dev/zero read by mistake would block or run until the timeout, not fail fast.
    return subprocess.run([str(SCRIPT), *args], cwd=cwd, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                          timeout=120)  # fmt: skip


def test_convert_and_diff_refuse_a_fifo_without_waiting_for_a_writer(heap_file, tmp_path):
    fifo = tmp_path / "profile.pb.gz"
    os.mkfifo(fifo)
    for args in (("convert", str(fifo), "--format", "top"), ("diff", str(heap_file), str(fifo))):
        result = _run_script(*args, cwd=tmp_path)
        assert result.returncode == 2
        assert _one_error_line(result.stderr) == f"error: cannot read {fifo}: a FIFO"
        assert result.stdout == ""


def test_convert_and_diff_refuse_a_device(heap_file, tmp_path):
    for args in (("convert", "/dev/zero", "--format", "html"), ("diff", "/dev/zero", str(heap_file))):
        result = _run_script(*args, cwd=tmp_path)
        assert result.returncode == 2
        assert _one_error_line(result.stderr) == "error: cannot read /dev/zero: not a regular file"
    assert files_in(tmp_path) == []


@pytest.fixture(scope="module")
def gzip_bomb(tmp_path_factory) -> Path:
    """4 MB that inflate to 4 GiB: 64 gzip members of 64 MiB of zeros each."""
    member = gzip.compress(bytes(64 << 20), compresslevel=9, mtime=0)
    bomb = tmp_path_factory.mktemp("bomb") / "bomb.pb.gz"
    bomb.write_bytes(member * 64)
    return bomb


def _convert_with_address_space(file: Path, headroom_mib: int, cwd: Path) -> subprocess.CompletedProcess:
    """convert FILE in a process allowed ``headroom_mib`` MiB of address space beyond what it holds once its
    modules are imported (RLIMIT_AS: allocating past it fails with MemoryError instead of swapping)."""
    program = (
        "import resource, sys\n"
        "from kubectl_rollouts_profile.cli import main\n"
        "import kubectl_rollouts_profile.pprof.decode, kubectl_rollouts_profile.pprof.schema as schema\n"
        "schema.message_classes()\n"
        "size = next(int(line.split()[1]) * 1024 for line in open('/proc/self/status') if line.startswith('VmSize'))\n"
        f"limit = size + ({headroom_mib} << 20)\n"
        "resource.setrlimit(resource.RLIMIT_AS, (limit, limit))\n"
        "main(sys.argv[1:], prog_name='kubectl rollouts-profile')\n"
    )
    return subprocess.run([sys.executable, "-c", program, "convert", str(file), "--format", "top"], cwd=cwd,
                          stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=300)  # fmt: skip


def test_a_gzip_bomb_is_refused_at_the_cap_without_exhausting_memory(gzip_bomb, tmp_path):
    # 4 GiB once inflated, refused at 256 MiB: it fits in 512 MiB more than the process holds at start.
    result = _convert_with_address_space(gzip_bomb, 512, tmp_path)
    assert result.returncode == 8, result.stderr
    assert _one_error_line(result.stderr) == (
        "error: decompressing profile: more than 268435456 bytes (256 MiB) once decompressed"
    )
    assert result.stdout == ""


def test_running_out_of_memory_is_one_line_and_exit_8(gzip_bomb, tmp_path):
    result = _convert_with_address_space(gzip_bomb, 96, tmp_path)
    assert result.returncode == 8, result.stderr
    assert _one_error_line(result.stderr) == "error: decoding profile: out of memory"
    assert result.stdout == ""


def test_a_file_larger_than_the_cap_is_refused_unread(tmp_path):
    huge = tmp_path / "huge.pb.gz"
    with huge.open("wb") as file:
        file.truncate((256 << 20) + 1)  # sparse: no disk used
    result = invoke("convert", str(huge), "--format", "top")
    assert result.exit_code == 8
    assert _one_error_line(result.stderr) == f"error: not a profile: {huge} is larger than 268435456 bytes (256 MiB)"


def _file_paths(profile: Profile) -> set[str]:
    """Every file path a profile names: its source files and its mapped binaries."""
    paths = {function.filename for function in profile.functions.values()}
    paths |= {mapping.filename for mapping in profile.mappings.values()}
    return paths - {""}


def _written_text(path: Path) -> str:
    data = path.read_bytes()
    return (gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data).decode("utf-8", errors="replace")


@pytest.mark.parametrize("fmt", ["pprof", "speedscope", "html", "top", "folded"])
def test_convert_redact_strips_source_file_names_in_every_format(heap_file, tmp_path, fmt):
    original = decode_profile(heap_file.read_bytes())
    paths = _file_paths(original)
    assert any(path.endswith("/main.go") for path in paths)  # the Go target's own source file is named
    out = tmp_path / f"redacted.{fmt}"
    result = invoke("convert", str(heap_file), "--format", fmt, "--redact", "-o", str(out))
    assert result.exit_code == 0, result.output
    text = _written_text(out)
    assert "main.retainMemory" in text  # still the profile, function names kept
    leaked = [path for path in paths if path in text]
    assert leaked == []
    if fmt == "pprof":
        redacted = decode_profile(out.read_bytes())
        assert _file_paths(redacted) == set()
        assert redacted.total() == original.total()
    if fmt == "speedscope":
        assert all("file" not in frame for frame in json.loads(text)["shared"]["frames"])
