"""Putting results on disk safely: file naming, atomic 0600 writes that never replace a file unless asked.

Every file is written under a temporary name in its final directory, fsync'd, and then moved into place, so a
reader (or a crash) never sees half a file. Without ``force`` the move is a hard link, which fails if the name
already exists, so two runs can never overwrite each other.
"""

from __future__ import annotations

import errno
import os
import re
import tempfile
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, Any, BinaryIO

from kubectl_rollouts_profile.errors import OutputError

FILE_MODE = 0o600
TEMP_PREFIX = ".rollouts-profile-"


def timestamp(when: datetime) -> str:
    """UTC ``yyyymmddThhmmssZ``, the time part of every default file name."""
    return when.astimezone(timezone.utc).strftime("%Y%m%dT%H%M%SZ")


def safe_component(text: str) -> str:
    """A file-name-safe form of a target name (a pod name already is; a URL's host:port is not)."""
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-.") or "target"


def default_name(target: str, kind: str, when: datetime, extension: str) -> str:
    return f"{safe_component(target)}-{kind}-{timestamp(when)}{extension}"


PPROF_SUFFIXES = (".pb.gz", ".pprof.gz", ".prof.gz", ".pb", ".pprof", ".prof", ".gz")


def profile_stem(path: Path) -> str:
    """A profile file's name without its pprof suffix, the base for the names of its exports."""
    name = path.name
    for suffix in PPROF_SUFFIXES:
        if name.endswith(suffix) and len(name) > len(suffix):
            return name[: -len(suffix)]
    return path.stem or name


def output_path(output: str | None, output_dir: str | None, name: str) -> Path:
    """The final path from ``-o`` (exact file) or ``--output-dir`` (default name inside it), else the cwd."""
    if output is not None:
        return Path(output)
    return Path(output_dir or ".") / name


def check_target(path: Path, *, force: bool) -> None:
    """Fail before any capture when the result could not be written, so no capture time is wasted."""
    directory = path.parent
    try:
        is_dir = directory.is_dir()
        exists = path.exists()
    except PermissionError as exc:
        raise OutputError(
            f"output directory {directory} is not accessible", hint="choose another with --output-dir"
        ) from exc
    if not is_dir:
        raise OutputError(f"output directory {directory} does not exist", hint="create it or choose another")
    if not os.access(directory, os.W_OK | os.X_OK):
        raise OutputError(f"output directory {directory} is not writable", hint="choose another with --output-dir")
    if exists and not force:
        raise OutputError(f"{path} already exists", hint="pass --force to replace it, or choose another name")


def commit(temp_path: Path, final_path: Path, *, force: bool) -> Path:
    """Move a finished temp file (same directory) into place with mode 0600; the temp file is gone afterwards."""
    try:
        os.chmod(temp_path, FILE_MODE)
        if force:
            os.replace(temp_path, final_path)
        else:
            try:
                os.link(temp_path, final_path)
            except FileExistsError:
                raise OutputError(
                    f"{final_path} already exists", hint="pass --force to replace it, or choose another name"
                ) from None
            except OSError as exc:
                if exc.errno not in (errno.EPERM, errno.EOPNOTSUPP, errno.EXDEV):
                    raise
                # A file system without hard links: fall back to an exclusive check then a rename.
                if final_path.exists():
                    raise OutputError(f"{final_path} already exists", hint="pass --force to replace it") from None
                os.replace(temp_path, final_path)
        _fsync_directory(final_path.parent)
    except OSError as exc:
        raise OutputError(f"cannot write {final_path}: {exc.strerror or exc}") from exc
    finally:
        temp_path.unlink(missing_ok=True)
    return final_path


def write_atomic_stream(path: Path, write: Callable[[BinaryIO], None], *, force: bool) -> Path:
    """Let ``write`` fill a temp file next to ``path``, then move it into place atomically with mode 0600. The
    temp file is removed whatever goes wrong (an OSError becomes OutputError; anything else, Ctrl-C included,
    propagates)."""
    # Checked first too, so a long export is not produced only to be refused; commit() checks again atomically
    # (and reports an unreadable directory, which lexists() cannot tell from a missing file).
    if not force and os.path.lexists(path):
        raise OutputError(f"{path} already exists", hint="pass --force to replace it, or choose another name")
    directory = path.parent
    try:
        handle, name = tempfile.mkstemp(prefix=TEMP_PREFIX, suffix=".part", dir=directory)
    except OSError as exc:
        raise OutputError(f"cannot write in {directory}: {exc.strerror or exc}") from exc
    temp_path = Path(name)
    try:
        with os.fdopen(handle, "wb") as out:
            write(out)
            out.flush()
            os.fsync(out.fileno())
    except OSError as exc:
        temp_path.unlink(missing_ok=True)
        raise OutputError(f"cannot write {path}: {exc.strerror or exc}") from exc
    except BaseException:
        temp_path.unlink(missing_ok=True)
        raise
    return commit(temp_path, path, force=force)


def write_atomic(path: Path, data: bytes, *, force: bool) -> Path:
    """Write ``data`` to ``path`` atomically with mode 0600."""

    def write_data(out: BinaryIO) -> None:
        out.write(data)

    return write_atomic_stream(path, write_data, force=force)


def copy_to_stream(path: Path, stream: IO[Any]) -> None:
    """Copy a file's bytes to a binary stream (``-o -``)."""
    target = getattr(stream, "buffer", stream)
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            target.write(chunk)
    target.flush()


def _fsync_directory(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # not every file system lets a directory be fsync'd; the rename itself is already atomic
    finally:
        os.close(fd)
