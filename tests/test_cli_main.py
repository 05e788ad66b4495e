"""The CLI's one error boundary: unexpected errors are one line that never carries a credential (the traceback
only with --debug, masked), and termination signals become their exit status."""

from __future__ import annotations

from typing import Any

import pytest

from kubectl_rollouts_profile import pipeline
from kubectl_rollouts_profile.cli import mask_secrets
from tests.clitools import invoke

TOKEN = "eyJhbGciOiJSUzI1NiJ9.c2VjcmV0LXRva2Vu.sig"


@pytest.fixture
def failing_capture(monkeypatch: pytest.MonkeyPatch) -> None:
    def explode(*_args: Any, **_kwargs: Any) -> None:
        raise ValueError(f"Invalid header value b'Bearer {TOKEN}\\n' for https://admin:{TOKEN}@10.0.0.1/api")

    monkeypatch.setattr(pipeline, "capture_once", explode)


def test_an_unexpected_error_is_one_line_without_the_secret(failing_capture: None) -> None:
    code, stdout, stderr = invoke("heap", "--url", "http://127.0.0.1:1")
    assert code == 1 and stdout == ""
    lines = stderr.strip().splitlines()
    assert lines[0] == "error: unexpected ValueError (a bug in kubectl-rollouts-profile)"
    assert lines[1].startswith("hint: please report it at ") and "--debug" in lines[1]
    assert len(lines) == 2 and TOKEN not in stderr and "Traceback" not in stderr


def test_debug_shows_the_traceback_with_credentials_masked(failing_capture: None) -> None:
    code, _, stderr = invoke("--debug", "heap", "--url", "http://127.0.0.1:1")
    assert code == 1
    assert "Traceback" in stderr and "ValueError" in stderr
    assert TOKEN not in stderr and "Bearer ***" in stderr and "://***@" in stderr


@pytest.mark.parametrize("text, secret", [
    ("Authorization: Bearer abc.def", "abc.def"),
    ('{"token": "s3cr3t-t0ken-value"}', "s3cr3t-t0ken-value"),
    ("SSO Token: Token for test does not exist", "not masked"),
    ("https://user:pa55@host/path", "pa55"),
    ("client-key-data: LS0tLS1CRUdJTg==", "LS0tLS1CRUdJTg=="),
])
def test_mask_secrets(text: str, secret: str) -> None:
    if secret == "not masked":  # prose around the word "token" stays readable
        assert mask_secrets(text) == text
    else:
        assert secret not in mask_secrets(text)


def test_a_termination_signal_landing_in_a_finalizer_is_delivered_again() -> None:
    import os
    import signal
    import time

    from kubectl_rollouts_profile.cli import termination_signals
    from kubectl_rollouts_profile.errors import Terminated

    class Finalized:
        def __del__(self) -> None:
            os.kill(os.getpid(), signal.SIGTERM)  # the handler runs while this finalizer does
            sum(range(10000))

    with pytest.raises(Terminated) as caught:
        with termination_signals():
            Finalized()  # collected at once
            deadline = time.monotonic() + 30  # a lost signal would let the loop run out instead
            while time.monotonic() < deadline:
                time.sleep(0.01)
    assert caught.value.exit_code == 143


def test_the_cli_runs_where_the_platform_has_no_sighup(monkeypatch: pytest.MonkeyPatch) -> None:
    """Windows has no SIGHUP: commands run, and SIGTERM still stops them cleanly."""
    import os
    import signal
    import subprocess
    import sys
    import time

    from kubectl_rollouts_profile.cli import termination_signals
    from kubectl_rollouts_profile.errors import Terminated

    program = (
        "import signal, sys\n"
        "del signal.SIGHUP\n"
        "from kubectl_rollouts_profile.cli import run\n"
        "run(sys.argv[1:])\n"
    )
    result = subprocess.run([sys.executable, "-c", program, "rbac", "--serviceaccount", "ops/runbook"],
                            capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert result.returncode == 0, result.stderr
    assert "kind: Role" in result.stdout

    monkeypatch.delattr(signal, "SIGHUP")
    hangup_before = signal.getsignal(signal.Signals["SIGHUP"].value)
    with pytest.raises(Terminated) as caught:
        with termination_signals():
            os.kill(os.getpid(), signal.SIGTERM)
            deadline = time.monotonic() + 30  # the handler raises at once; a lost signal lets this run out
            while time.monotonic() < deadline:
                time.sleep(0.01)
    assert caught.value.exit_code == 143
    assert signal.getsignal(signal.Signals["SIGHUP"].value) == hangup_before  # left alone
