"""Shared fixtures: the real Go pprof target (both mux layouts), started once per session on free ports."""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.goproc import GoTarget, start_gotarget

pytest_plugins = ["tests.kubeapi.fixtures"]


@pytest.fixture(scope="session")
def go_new() -> Iterator[GoTarget]:
    """gotarget with the >= v1.8.0 layout (trailing slashes), block and mutex rates off."""
    target = start_gotarget(layout="new", metrics=True)
    yield target
    target.stop()


@pytest.fixture(scope="session")
def go_old() -> Iterator[GoTarget]:
    """gotarget with the v1.8.0-rc1 layout (exact paths; named profiles not routed)."""
    target = start_gotarget(layout="old")
    yield target
    target.stop()


@pytest.fixture(scope="session")
def go_rates() -> Iterator[GoTarget]:
    """gotarget with block and mutex profiling rates set, so those profiles have samples."""
    target = start_gotarget("--block-rate", "1", "--mutex-fraction", "1", layout="new")
    yield target
    target.stop()


@pytest.fixture
def go_factory() -> Iterator[Callable[..., GoTarget]]:
    """Start extra, test-owned targets (stopped at the end of the test)."""
    started: list[GoTarget] = []

    def factory(*args: str, layout: str = "new", metrics: bool = False) -> GoTarget:
        target = start_gotarget(*args, layout=layout, metrics=metrics)
        started.append(target)
        return target

    yield factory
    for target in started:
        target.stop()


@pytest.fixture
def full_disk(tmp_path: Path) -> Iterator[Path]:
    """A tmpfs with (almost) no room left; skipped where this user cannot mount one (CI runs as root)."""
    mount_point = tmp_path / "full"
    mount_point.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mount_point)],
                             capture_output=True)
    if mounted.returncode != 0:
        pytest.skip("cannot mount a tmpfs here (not root); the file-size limit tests cover the write errors")
    try:
        with (mount_point / "filler").open("wb") as filler:
            try:
                filler.write(b"\0" * 65536)
                filler.flush()
            except OSError:
                pass
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=False)
