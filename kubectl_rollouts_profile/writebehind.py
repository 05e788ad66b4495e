"""The write-behind writer: a file's writes handed to a thread, so rendering the next piece of a big export overlaps
writing this one (``deliver.write_atomic_stream`` writes every export through it)."""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator
from queue import Queue
from typing import Any, BinaryIO, cast

# Bytes a write-behind thread lets pile up in the page cache before it asks the disk to take them.
_SYNC_STEP = 64 << 20


class _WriteBehind:
    """Writes handed to a thread, which writes them in order and makes the disk take them every _SYNC_STEP bytes
    (fdatasync): rendering the next piece of a big export overlaps writing this one, and the final fsync has
    little left to do. A buffer handed to ``write`` must not change afterwards (renderers hand fresh objects).
    A write error is raised by the next ``write`` or by ``close``."""

    def __init__(self, file: BinaryIO, pieces_ahead: int = 4) -> None:
        self._file = file
        self._pieces: Queue[Any] = Queue(maxsize=pieces_ahead)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._drain, name="write-behind", daemon=True)
        self._thread.start()

    def _drain(self) -> None:
        unsynced = 0
        while (piece := self._pieces.get()) is not None:
            if self._error is not None:
                continue  # after a failure, pieces are only taken off the queue
            try:
                self._file.write(piece)
                unsynced += memoryview(piece).nbytes
                if unsynced >= _SYNC_STEP:
                    self._file.flush()
                    os.fdatasync(self._file.fileno())
                    unsynced = 0
            except BaseException as exc:  # handed to the writing thread, which raises it
                self._error = exc

    def write(self, piece: Any) -> int:
        if self._error is not None:
            raise self._error
        self._pieces.put(piece)
        return memoryview(piece).nbytes

    def close(self) -> None:
        """Wait until every piece is written; raise the first write error."""
        if self._thread.is_alive():
            self._pieces.put(None)
            self._thread.join()
        if self._error is not None:
            raise self._error


@contextlib.contextmanager
def write_behind(file: BinaryIO) -> Iterator[BinaryIO]:
    """``file`` written through a _WriteBehind: every piece is written (or the first error raised) when the block
    ends; if the block fails, the pieces still queued are written or dropped and its error propagates."""
    writer = _WriteBehind(file)
    try:
        yield cast(BinaryIO, writer)
    except BaseException:
        with contextlib.suppress(BaseException):
            writer.close()
        raise
    writer.close()
