"""Putting results on disk safely: file naming, temporary files from creation to commit or removal, atomic 0600
writes that never replace a file unless asked, and default names that never collide.

Every file is written under a temporary name in its final directory, fsync'd, and then moved into place, so a
reader (or a crash) never sees half a file. Without ``force`` the move is a hard link, which fails if the name
already exists, so two runs can never overwrite each other; a default name that is taken gets a numeric suffix.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, Any, BinaryIO

from kubectl_rollouts_profile.errors import OutputError
from kubectl_rollouts_profile.writebehind import write_behind

FILE_MODE = 0o600
TEMP_PREFIX = ".rollouts-profile-"
# A directory with less free space than this is refused before a capture starts (a profile and its exports).
MIN_FREE_BYTES = 16 * 1024 * 1024
MAX_NAME_SUFFIX = 999
# A default name's stem, before its suffix (-999) and extension (.speedscope.json, .report.html): short enough for
# NAME_MAX on every file system (255 bytes; 143 under eCryptfs) whatever the pod is called (up to 253 characters).
MAX_STEM_BYTES = 120
NAME_HASH_LENGTH = 8


def timestamp(when: datetime) -> str:
    """UTC ``yyyymmddThhmmssZ``, the time part of every default file name."""
    return when.astimezone(timezone.utc).strftime("%Y%m%dT%H%M%SZ")


def safe_component(text: str) -> str:
    """A file-name-safe form of a source name (a pod name already is; a URL's host:port is not)."""
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-.") or "target"


def default_stem(source_name: str, label: str, when: datetime) -> str:
    """``{source}-{label}-{time}``; a source name too long for the name keeps its start and a short hash of the whole
    name (``argo-rollouts-controller-rep~1f3a9c2e``), so names stay readable and two pods never share one."""
    source_part = safe_component(source_name)
    tail = f"-{label}-{timestamp(when)}"
    room = MAX_STEM_BYTES - len(tail)
    if len(source_part) > room:
        digest = hashlib.sha256(source_name.encode("utf-8", "surrogateescape")).hexdigest()[:NAME_HASH_LENGTH]
        source_part = f"{source_part[: room - NAME_HASH_LENGTH - 1]}~{digest}"
    return source_part + tail


def default_name(source_name: str, kind: str, when: datetime, extension: str) -> str:
    return default_stem(source_name, kind, when) + extension


PPROF_SUFFIXES = (".pb.gz", ".pprof.gz", ".prof.gz", ".pb", ".pprof", ".prof", ".gz")


def profile_stem(path: Path) -> str:
    """A profile file's name without its pprof suffix, the base for the names of its exports."""
    name = path.name
    for suffix in PPROF_SUFFIXES:
        if name.endswith(suffix) and len(name) > len(suffix):
            return name[: -len(suffix)]
    return path.stem or name


def numbered_names(stem: str, extension: str = "") -> Iterator[str]:
    """``stem + extension``, then ``stem-2 + extension`` ... ``stem-999 + extension``: the names a default name
    falls back to when it is taken."""
    yield stem + extension
    for number in range(2, MAX_NAME_SUFFIX + 1):
        yield f"{stem}-{number}{extension}"


def output_path(output: str | None, output_dir: str | None, name: str) -> Path:
    """The final path from ``-o`` (exact file) or ``--output-dir`` (default name inside it), else the cwd."""
    if output is not None:
        return Path(output)
    return Path(output_dir or ".") / name


def check_directory(directory: Path, *, min_free_bytes: int = MIN_FREE_BYTES) -> None:
    """Fail before any capture when nothing could be written in ``directory``: missing, not writable, or full."""
    try:
        is_dir = directory.is_dir()
    except PermissionError as exc:
        raise OutputError(
            f"output directory {directory} is not accessible", hint="choose another with --output-dir"
        ) from exc
    if not is_dir:
        raise OutputError(f"output directory {directory} does not exist", hint="create it or choose another")
    # Room under PATH_MAX for what goes in it: a run directory and a file, each a default name (at most
    # MAX_STEM_BYTES + suffix + extension).
    if len(os.fsencode(os.path.abspath(directory))) + 2 * (MAX_STEM_BYTES + 32) > _path_conf(directory, "PC_PATH_MAX",
                                                                                             4096):
        raise OutputError(f"output directory {str(directory)[:60]}... is nested too deep for the files to be "
                          "written under it (PATH_MAX)", hint="choose a shorter path with --output-dir")
    if not os.access(directory, os.W_OK | os.X_OK):
        raise OutputError(f"output directory {directory} is not writable", hint="choose another with --output-dir")
    try:
        free = shutil.disk_usage(directory).free
    except OSError:
        return  # no figure to judge by; the writes themselves will tell
    if free < min_free_bytes:
        raise OutputError(
            f"output directory {directory} has only {free // 1024} KiB free",
            hint="free some space or choose another directory with --output-dir",
        )


def check_output_path(path: Path, *, force: bool) -> None:
    """Fail before any capture when the result could not be written at ``path`` (a dangling symlink counts as
    existing: writing through it is never done), so no capture time is wasted."""
    check_directory(path.parent)
    if len(os.fsencode(path.name)) > _path_conf(path.parent, "PC_NAME_MAX", 255):
        raise OutputError(f"{path.name[:60]}...: the file name is longer than this file system allows",
                          hint="choose a shorter name with -o")
    if not force and os.path.lexists(path):
        raise OutputError(f"{path} already exists", hint="pass --force to replace it, or choose another name")


def _path_conf(directory: Path, name: str, default: int) -> int:
    """The file system's NAME_MAX or PATH_MAX for ``directory``."""
    try:
        return os.pathconf(directory, name)
    except (OSError, ValueError):
        return default


class StagedFile:
    """A temporary 0600 file in the directory its result will live in. Written through ``write``; removed on
    ``discard`` (or when the ``staged`` block ends) unless committed."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        try:
            handle, name = tempfile.mkstemp(prefix=TEMP_PREFIX, suffix=".part", dir=directory)
        except OSError as exc:
            raise write_error(directory, exc) from exc
        self.path = Path(name)
        self._file: BinaryIO | None = os.fdopen(handle, "wb")
        self.committed: Path | None = None

    def write(self, data: bytes) -> int:
        assert self._file is not None, "the staged file is already finished"
        try:
            return self._file.write(data)
        except OSError as exc:
            raise write_error(self.directory, exc) from exc

    def binary_file(self) -> BinaryIO:
        """The open file itself, for writers that need more than ``write`` (their OSErrors are the caller's)."""
        assert self._file is not None, "the staged file is already finished"
        return self._file

    def finish(self) -> None:
        """Flush and fsync: the bytes are on disk (a full disk is found here at the latest)."""
        if self._file is None:
            return
        try:
            self._file.flush()
            os.fsync(self._file.fileno())
        except OSError as exc:
            raise write_error(self.directory, exc) from exc
        finally:
            with contextlib.suppress(OSError):
                self._file.close()
            self._file = None

    def rewrite(self, data: bytes) -> None:
        """Replace the whole content (e.g. with a redacted profile)."""
        self.finish()
        self._file = self.path.open("wb")
        self.write(data)
        self.finish()

    def size_and_digest(self) -> tuple[int, str]:
        digest = hashlib.sha256()
        size = 0
        with self.path.open("rb") as handle:
            while chunk := handle.read(1 << 20):
                size += len(chunk)
                digest.update(chunk)
        return size, digest.hexdigest()

    def commit(self, final_path: Path, *, force: bool) -> Path:
        """Move into place at exactly ``final_path`` (an existing file is refused unless ``force``)."""
        self.finish()
        self.committed = commit(self.path, final_path, force=force)
        return self.committed

    def commit_new(self, directory: Path, stem: str, extension: str) -> Path:
        """Move into place under ``stem + extension`` in ``directory``, or ``stem-2 + extension`` ... when that
        is taken: a default name never collides with another run's file."""
        self.finish()
        for name in numbered_names(stem, extension):
            candidate = directory / name
            try:
                self.committed = commit(self.path, candidate, force=False, keep_temp_on_exists=True)
                return self.committed
            except FileExistsError:
                continue
        self.discard()
        raise OutputError(f"no free name for {stem}{extension} in {directory}", hint="choose a name with -o")

    def copy_to(self, stream: IO[Any]) -> None:
        self.finish()
        copy_to_stream(self.path, stream)

    def discard(self) -> None:
        if self._file is not None:
            with contextlib.suppress(OSError):
                self._file.close()
            self._file = None
        self.path.unlink(missing_ok=True)


@contextlib.contextmanager
def staged(directory: Path | None) -> Iterator[StagedFile]:
    """A ``StagedFile`` for the ``with`` block, in ``directory`` (where its result will live) or, for a result
    that is only streamed, in a private temporary directory. Whatever happens (errors, Ctrl-C, SIGTERM), the
    temporary file is gone when the block ends: committed under its final name, or removed."""
    with contextlib.ExitStack() as stack:
        if directory is None:
            directory = stack.enter_context(work_directory(Path(tempfile.gettempdir()), prefix="rollouts-profile-"))
        staged_file = StagedFile(directory)
        stack.callback(staged_file.discard)
        yield staged_file


@contextlib.contextmanager
def work_directory(parent: Path, *, prefix: str = TEMP_PREFIX) -> Iterator[Path]:
    """A private (0700) directory in ``parent`` for the ``with`` block, removed with everything in it at the end."""
    try:
        path = Path(tempfile.mkdtemp(prefix=prefix, dir=parent))
    except OSError as exc:
        raise write_error(parent, exc) from exc
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def commit(temp_path: Path, final_path: Path, *, force: bool, keep_temp_on_exists: bool = False) -> Path:
    """Move a finished temp file (same directory) into place with mode 0600; the temp file is gone afterwards
    (with ``keep_temp_on_exists``, a taken name raises FileExistsError and keeps the temp file for another try)."""
    try:
        os.chmod(temp_path, FILE_MODE)
        if force:
            os.replace(temp_path, final_path)
        else:
            try:
                os.link(temp_path, final_path)
            except FileExistsError:
                if keep_temp_on_exists:
                    raise
                raise OutputError(
                    f"{final_path} already exists", hint="pass --force to replace it, or choose another name"
                ) from None
            except OSError as exc:
                if exc.errno not in (errno.EPERM, errno.EOPNOTSUPP, errno.EXDEV):
                    raise
                _replace_exclusive(temp_path, final_path, keep_temp_on_exists)
        _fsync_directory(final_path.parent)
    except FileExistsError:
        raise
    except OSError as exc:
        temp_path.unlink(missing_ok=True)
        raise OutputError(f"cannot write {final_path}: {exc.strerror or exc}") from exc
    temp_path.unlink(missing_ok=True)
    return final_path


def _replace_exclusive(temp_path: Path, final_path: Path, keep_temp_on_exists: bool) -> None:
    # A file system without hard links: claim the name exclusively, then move the finished file over it.
    try:
        os.close(os.open(final_path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, FILE_MODE))
    except FileExistsError:
        if keep_temp_on_exists:
            raise
        raise OutputError(f"{final_path} already exists", hint="pass --force to replace it") from None
    os.replace(temp_path, final_path)


def write_atomic_stream(path: Path, write: Callable[[BinaryIO], None], *, force: bool) -> Path:
    """Let ``write`` fill a temp file next to ``path``, then move it into place atomically with mode 0600. The
    temp file is removed whatever goes wrong (an OSError becomes OutputError; anything else, Ctrl-C included,
    propagates)."""
    # Checked first too, so a long export is not produced only to be refused; commit() checks again atomically
    # (and reports an unreadable directory, which lexists() cannot tell from a missing file).
    if not force and os.path.lexists(path):
        raise OutputError(f"{path} already exists", hint="pass --force to replace it, or choose another name")
    with staged(path.parent) as staged_file:
        try:
            with write_behind(staged_file.binary_file()) as out:
                write(out)
        except OSError as exc:
            raise write_error(path.parent, exc, path) from exc
        return staged_file.commit(path, force=force)


def write_atomic(path: Path, data: bytes, *, force: bool) -> Path:
    """Write ``data`` to ``path`` atomically with mode 0600."""

    def write_data(out: BinaryIO) -> None:
        out.write(data)

    return write_atomic_stream(path, write_data, force=force)


def copy_to_stream(path: Path, stream: IO[Any]) -> None:
    """Copy a file's bytes to a binary stream (``-o -``)."""
    binary = getattr(stream, "buffer", stream)
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            binary.write(chunk)
    binary.flush()


def write_error(directory: Path, exc: OSError, path: Path | None = None) -> OutputError:
    """The OutputError for a failed write in ``directory`` (of ``path``), with a hint when the disk is full."""
    where = path if path is not None else f"in {directory}"
    if exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
        return OutputError(f"cannot write {where}: {exc.strerror}",
                           hint="free some space or choose another directory with --output-dir")
    return OutputError(f"cannot write {where}: {exc.strerror or exc}")


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
