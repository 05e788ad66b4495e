"""Reading input files: a saved profile (or metrics text, or archive) named on the command line, as bytes within
a budget; a FIFO or device is refused before any read."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from kubectl_rollouts_profile.errors import ProfileError, UsageError


def read_input(path: Path, *, max_bytes: int) -> bytes:
    """The bytes of a saved profile: a regular file, not empty, at most ``max_bytes``. A FIFO or device is refused
    before any read (opened without blocking, so a FIFO without a writer cannot hang us)."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    except OSError as error:
        raise UsageError(f"cannot read {path}: {error.strerror or error}", "name a readable pprof file") from error
    with os.fdopen(fd, "rb") as file:
        status = os.fstat(fd)
        mode = status.st_mode
        if not stat.S_ISREG(mode):
            what = "a directory" if stat.S_ISDIR(mode) else "a FIFO" if stat.S_ISFIFO(mode) else "not a regular file"
            raise UsageError(f"cannot read {path}: {what}", "name a saved pprof file (a regular file)")
        data = b""
        if status.st_size <= max_bytes:
            try:
                data = file.read(status.st_size)  # sized by the file: a read of the cap would allocate the cap
            except OSError as error:
                hint = "name a readable pprof file"
                raise UsageError(f"cannot read {path}: {error.strerror or error}", hint) from error
    if status.st_size > max_bytes or len(data) > max_bytes:
        raise ProfileError(
            f"not a profile: {path} is larger than {max_bytes} bytes ({max_bytes >> 20} MiB)",
            "a pprof file is far smaller; check that the right file was named",
        )
    if not data:
        raise ProfileError(f"not a profile: {path} is empty (0 bytes)", "name a saved pprof file")
    return data
