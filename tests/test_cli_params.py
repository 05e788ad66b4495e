"""The one duration type: Go's syntax (as time.ParseDuration and kubectl read it) for every duration flag."""

from __future__ import annotations

from typing import Any

import click
import pytest
from click.testing import CliRunner

from kubectl_rollouts_profile.cli.cluster_options import cluster_options, cluster_request
from kubectl_rollouts_profile.cli.params import Duration, parse_duration
from kubectl_rollouts_profile.errors import UsageError


@pytest.mark.parametrize(("text", "seconds"), [
    ("1m30s", 90.0), ("1h", 3600.0), ("500ms", 0.5), ("2h45m", 9900.0), ("1.5h", 5400.0), ("300ms", 0.3),
    ("1h15m30.918273645s", 4530.918273645), ("10us", 1e-5), ("10\u00b5s", 1e-5), ("10\u03bcs", 1e-5),
    ("7ns", 7e-9), (".5s", 0.5), ("1.s", 1.0), ("+5s", 5.0), ("0", 0.0), ("30", 30.0), ("1.5", 1.5),
])
def test_go_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "s", "1d", "1m30", "m1", ".s", "-1s", "1s ms", "3000000h", "+"])
def test_not_durations(text: str) -> None:
    with pytest.raises(UsageError, match="not a duration"):
        parse_duration(text)


def test_request_timeout_takes_go_durations() -> None:
    seen: dict[str, Any] = {}

    @click.command()
    @cluster_options
    def command(**options: Any) -> None:
        seen["request"] = cluster_request(**options)

    result = CliRunner().invoke(command, ["--request-timeout", "1m30s"])
    assert result.exit_code == 0, result.output
    assert seen["request"].request_timeout_seconds == 90.0
    refused = CliRunner().invoke(command, ["--request-timeout", "0s"])
    assert refused.exit_code == 2 and "more than zero" in refused.output


def test_zero_is_refused_only_where_asked() -> None:
    assert Duration().convert("0s", None, None) == 0.0
    with pytest.raises(click.BadParameter):
        Duration(positive=True).convert("0s", None, None)
