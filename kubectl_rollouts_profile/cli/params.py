"""Click parameter types and option groups shared by several commands."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import click

from kubectl_rollouts_profile.errors import UsageError

# Go's time.ParseDuration units, in seconds (µ as the micro sign U+00B5 and as the Greek mu U+03BC, like Go).
_UNIT_SECONDS = {"ns": 1e-9, "us": 1e-6, "\u00b5s": 1e-6, "\u03bcs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0,
                 "h": 3600.0}
# One "number unit" part: a decimal with digits on at least one side of the point (Go: "1.", ".5", "1.5").
# The two-letter units come before "m" and "s" so that "ms" is never read as "m" then "s".
_PART = re.compile(r"(\d+\.?\d*|\.\d+)(ns|us|\u00b5s|\u03bcs|ms|h|m|s)")
# A bare number is seconds, as kubectl's --request-timeout takes it ("A value of zero means don't timeout";
# "30" is 30s); Go's own parser accepts only "0" without a unit.
_BARE_SECONDS = re.compile(r"\d+(\.\d+)?")
# time.Duration is an int64 of nanoseconds: Go refuses anything longer (about 292 years).
MAX_SECONDS = (2**63 - 1) / 1e9
_EXAMPLES = 'use Go\'s syntax, e.g. "30s", "1m30s", "2h45m", "1.5h", "500ms", or a number of seconds'


def parse_duration(text: str) -> float:
    """Seconds in a duration written as Go's ``time.ParseDuration`` (and so kubectl) reads it: a sequence of
    decimal numbers each with a unit (``1m30s``, ``1.5h``, ``500ms``, ``2h45m``), or a bare number of seconds.
    Negative durations are refused: no flag here means anything by one."""
    value = text.strip()
    if _BARE_SECONDS.fullmatch(value):
        return float(value)
    if value.startswith("-"):
        raise UsageError(f"not a duration: {text!r} is negative", hint=_EXAMPLES)
    position, seconds = (1 if value.startswith("+") else 0), 0.0
    if position == len(value):
        raise UsageError(f"not a duration: {text!r}", hint=_EXAMPLES)
    while position < len(value):
        part = _PART.match(value, position)
        if part is None:
            raise UsageError(f"not a duration: {text!r}", hint=_EXAMPLES)
        seconds += float(part.group(1)) * _UNIT_SECONDS[part.group(2)]
        position = part.end()
    if seconds > MAX_SECONDS:
        raise UsageError(f"not a duration: {text!r} is out of range (at most about 292 years)", hint=_EXAMPLES)
    return seconds


class Duration(click.ParamType):
    """A duration flag (``--cooldown``, ``--request-timeout``, ``--every``, ``--over``, ``--wait``): Go's syntax, in
    seconds; ``positive``: zero is refused too."""

    name = "duration"

    def __init__(self, *, positive: bool = False) -> None:
        self.positive = positive

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> float:
        try:
            seconds = float(value) if isinstance(value, (int, float)) else parse_duration(str(value))
        except UsageError as error:
            self.fail(f"{error} ({_EXAMPLES})", param, ctx)
        if self.positive and not seconds > 0:
            self.fail(f"{value!r} must be more than zero", param, ctx)
        return seconds


def with_options(options: list[Callable[..., Any]], command: Callable[..., Any]) -> Callable[..., Any]:
    """``command`` with the click ``options`` added, listed in ``--help`` in the order given."""
    for option in reversed(options):
        command = option(command)
    return command
