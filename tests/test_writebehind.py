"""The write-behind writer: every piece written in order, the disk asked to take them on the way, and a write
error raised in the writing thread."""

from __future__ import annotations

import errno
import io
from pathlib import Path

import pytest

from kubectl_rollouts_profile import writebehind
from kubectl_rollouts_profile.writebehind import write_behind


def test_write_behind_writes_every_piece_in_order_and_syncs_on_the_way(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(writebehind, "_SYNC_STEP", 1000)  # a sync every thousand bytes, so many happen here
    synced = []
    monkeypatch.setattr(writebehind.os, "fdatasync", lambda fd: synced.append(fd))
    pieces = [bytes([n % 256]) * (n % 700) for n in range(300)]
    with (tmp_path / "out").open("wb") as file, write_behind(file) as out:
        for piece in pieces:
            out.write(memoryview(piece))
    assert (tmp_path / "out").read_bytes() == b"".join(pieces)
    assert len(synced) >= sum(map(len, pieces)) // 1000 // 2


class _FillingUp(io.BytesIO):
    """A file that takes 100 bytes, then fails like a full disk."""

    def write(self, data) -> int:
        if self.tell() + len(data) > 100:
            raise OSError(errno.ENOSPC, "No space left on device")
        return super().write(data)


def test_a_write_error_behind_reaches_the_writer() -> None:
    with pytest.raises(OSError, match="No space left"), write_behind(_FillingUp()) as out:
        for _ in range(1000):  # the error surfaces at a later write, or when the block ends
            out.write(b"0123456789")


