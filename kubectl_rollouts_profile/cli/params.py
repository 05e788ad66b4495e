"""Click parameter types shared by several commands."""

from __future__ import annotations

import re
from typing import Any

import click

from kubectl_rollouts_profile.errors import UsageError

_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600}


def parse_duration(text: str) -> float:
    """Seconds in a Go-style duration ("30s", "2m", "1h30m", "500ms") or a plain number of seconds."""
    value = text.strip()
    if re.fullmatch(r"\d+(\.\d+)?", value):
        return float(value)
    if not value or _DURATION_PART.sub("", value):
        raise UsageError(f"not a duration: {text!r}", hint='use e.g. "30s", "2m", "1h30m" or a number of seconds')
    return sum(float(number) * _UNIT_SECONDS[unit] for number, unit in _DURATION_PART.findall(value))


class Duration(click.ParamType):
    name = "DURATION"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> float:
        if isinstance(value, (int, float)):
            return float(value)
        try:
            return parse_duration(value)
        except UsageError as error:
            self.fail(str(error), param, ctx)
