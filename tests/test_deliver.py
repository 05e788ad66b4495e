"""write_atomic_stream and write_atomic: a temp file in the target directory, 0600, no overwrite without force,
nothing left behind when the writer fails."""

from __future__ import annotations

import errno
import io
import stat
from pathlib import Path
from typing import BinaryIO

import pytest

from kubectl_rollouts_profile import deliver
from kubectl_rollouts_profile.deliver import TEMP_PREFIX, write_atomic, write_atomic_stream
from kubectl_rollouts_profile.errors import OutputError


def _write_chunks(out: BinaryIO) -> None:
    for index in range(3):
        out.write(f"chunk {index}\n".encode())


def test_stream_writes_file_with_mode_0600(tmp_path: Path) -> None:
    target = tmp_path / "out.json"
    written = write_atomic_stream(target, _write_chunks, force=False)
    assert written == target
    assert target.read_bytes() == b"chunk 0\nchunk 1\nchunk 2\n"
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert list(tmp_path.iterdir()) == [target]


def test_writer_sees_a_temp_file_in_the_target_directory(tmp_path: Path) -> None:
    seen: list[Path] = []

    def write(out: BinaryIO) -> None:
        seen.extend(tmp_path.iterdir())
        out.write(b"x")

    write_atomic_stream(tmp_path / "out.txt", write, force=False)
    assert len(seen) == 1
    assert seen[0].name.startswith(TEMP_PREFIX)
    assert not seen[0].exists()


@pytest.mark.parametrize("error", [RuntimeError("render failed"), KeyboardInterrupt()])
def test_writer_exception_removes_temp_and_propagates(tmp_path: Path, error: BaseException) -> None:
    def write(out: BinaryIO) -> None:
        out.write(b"half a document")
        raise error

    with pytest.raises(type(error)):
        write_atomic_stream(tmp_path / "out.json", write, force=False)
    assert list(tmp_path.iterdir()) == []


def test_writer_oserror_becomes_output_error(tmp_path: Path) -> None:
    def write(out: BinaryIO) -> None:
        raise OSError(28, "No space left on device")

    with pytest.raises(OutputError, match="No space left on device") as caught:
        write_atomic_stream(tmp_path / "out.json", write, force=False)
    assert caught.value.exit_code == 9
    assert list(tmp_path.iterdir()) == []


def test_no_overwrite_without_force_and_writer_never_runs(tmp_path: Path) -> None:
    target = tmp_path / "out.json"
    target.write_bytes(b"old")
    calls: list[int] = []

    def write(out: BinaryIO) -> None:
        calls.append(1)
        out.write(b"new")

    with pytest.raises(OutputError, match="already exists"):
        write_atomic_stream(target, write, force=False)
    assert target.read_bytes() == b"old"
    assert calls == []
    assert list(tmp_path.iterdir()) == [target]


def test_force_replaces_existing_file(tmp_path: Path) -> None:
    target = tmp_path / "out.json"
    target.write_bytes(b"old")
    target.chmod(0o644)
    write_atomic_stream(target, _write_chunks, force=True)
    assert target.read_bytes().startswith(b"chunk 0")
    assert stat.S_IMODE(target.stat().st_mode) == 0o600


def test_file_appearing_while_writing_is_not_replaced(tmp_path: Path) -> None:
    target = tmp_path / "out.json"

    def write(out: BinaryIO) -> None:
        target.write_bytes(b"someone else's")
        out.write(b"ours")

    with pytest.raises(OutputError, match="already exists"):
        write_atomic_stream(target, write, force=False)
    assert target.read_bytes() == b"someone else's"
    assert list(tmp_path.iterdir()) == [target]


def test_missing_directory_is_output_error(tmp_path: Path) -> None:
    with pytest.raises(OutputError, match="cannot write in"):
        write_atomic_stream(tmp_path / "absent" / "out.json", _write_chunks, force=False)


def test_write_atomic_writes_bytes(tmp_path: Path) -> None:
    target = write_atomic(tmp_path / "data.bin", b"\x00\x01payload", force=False)
    assert target.read_bytes() == b"\x00\x01payload"
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    with pytest.raises(OutputError):
        write_atomic(target, b"again", force=False)
    assert target.read_bytes() == b"\x00\x01payload"


def test_commit_new_picks_a_free_name_and_never_replaces(tmp_path: Path) -> None:
    from kubectl_rollouts_profile.deliver import staged

    (tmp_path / "pod-cpu-T.pb.gz").write_bytes(b"someone else's")
    names = []
    for payload in (b"first", b"second"):
        with staged(tmp_path) as staged_file:
            staged_file.write(payload)
            names.append(staged_file.commit_new(tmp_path, "pod-cpu-T", ".pb.gz").name)
    assert names == ["pod-cpu-T-2.pb.gz", "pod-cpu-T-3.pb.gz"]
    assert (tmp_path / "pod-cpu-T.pb.gz").read_bytes() == b"someone else's"
    assert (tmp_path / "pod-cpu-T-3.pb.gz").read_bytes() == b"second"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pod-cpu-T-2.pb.gz", "pod-cpu-T-3.pb.gz", "pod-cpu-T.pb.gz"]


def test_staged_file_is_removed_when_the_block_fails(tmp_path: Path) -> None:
    from kubectl_rollouts_profile.deliver import staged

    with pytest.raises(KeyboardInterrupt):
        with staged(tmp_path) as staged_file:
            staged_file.write(b"half")
            raise KeyboardInterrupt
    assert list(tmp_path.iterdir()) == []


def test_a_directory_without_room_is_refused(tmp_path: Path) -> None:
    from kubectl_rollouts_profile.deliver import check_directory

    with pytest.raises(OutputError, match="KiB free"):
        check_directory(tmp_path, min_free_bytes=1 << 62)


class _FillingUp(io.BytesIO):
    """A file that takes 100 bytes, then fails like a full disk."""

    def write(self, data) -> int:
        if self.tell() + len(data) > 100:
            raise OSError(errno.ENOSPC, "No space left on device")
        return super().write(data)


def test_a_full_disk_under_a_streamed_export_is_an_output_error_and_leaves_nothing(tmp_path: Path, monkeypatch) -> None:
    def write(out: BinaryIO) -> None:
        for _ in range(100):
            out.write(b"x" * 10)

    monkeypatch.setattr(deliver.StagedFile, "binary_file", lambda self: _FillingUp())
    with pytest.raises(OutputError, match="No space left"):
        write_atomic_stream(tmp_path / "export.txt", write, force=False)
    assert list(tmp_path.iterdir()) == []
