"""viewer: a person is present only on a terminal with a display outside CI; open_file launches $BROWSER."""

from __future__ import annotations

import io
import sys
import time

import pytest

from kubectl_rollouts_profile.environment import Environment
from kubectl_rollouts_profile.viewer import open_file, person_present


class FakeTty(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.skipif(sys.platform != "linux", reason="display detection differs off Linux")
@pytest.mark.parametrize(
    ("tty", "environ", "expected"),
    [
        (True, {"DISPLAY": ":0"}, True),
        (True, {"WAYLAND_DISPLAY": "wayland-0"}, True),
        (True, {}, False),  # a headless host
        (False, {"DISPLAY": ":0"}, False),  # a pipe
        (True, {"DISPLAY": ":0", "CI": "true"}, False),
        (True, {"DISPLAY": ":0", "KUBERNETES_SERVICE_HOST": "10.0.0.1"}, False),  # a Job in the cluster
    ],
)
def test_person_present(tty, environ, expected):
    env = Environment(stdout=FakeTty() if tty else io.StringIO(), stderr=io.StringIO(), environ=environ)
    assert person_present(env) is expected


def test_open_file_runs_the_browser_with_the_file_url(tmp_path):
    record = tmp_path / "opened.txt"
    browser = tmp_path / "fake-browser"
    browser.write_text(f"#!/bin/sh\necho \"$1\" > {record}.part && mv {record}.part {record}\n")
    browser.chmod(0o755)
    page = tmp_path / "cpu.html"
    page.write_text("<html></html>")
    environ = {"BROWSER": str(browser), "PATH": "/usr/bin:/bin"}
    assert open_file(page, environ=environ) is True
    deadline = time.monotonic() + 10
    while not record.exists():
        assert time.monotonic() < deadline, "the browser was not started"
        time.sleep(0.02)
    assert record.read_text().strip() == page.resolve().as_uri()


def test_open_file_without_any_browser_or_speedscope_says_no(tmp_path):
    page = tmp_path / "cpu.html"
    page.write_text("<html></html>")
    empty_path = {"PATH": str(tmp_path)}
    assert open_file(page, environ=empty_path) is False
    assert open_file(page, "speedscope", environ=empty_path) is False
