"""The one budget for everything read from outside: archives (inflated bytes, members, time), metrics pages
(bytes, series, time), JSON documents (nesting), and what the incident report may grow to. Every reader takes its
bound from here, so the README's limits table and the code say the same; tests pass small budgets.

A bound that is crossed stops the reading at once with ``InputTooLarge`` (exit 8, the input is not data we can
use) naming the input, the bound and what to do."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from kubectl_rollouts_profile.errors import ProfileError

MIB = 1 << 20


@dataclass(frozen=True)
class Budget:
    # An archive (a bundle someone sends): the bytes its members inflate to, counted from their headers before any
    # is inflated (a member passed over still has to be inflated to reach the next), one member's bytes, the number
    # of members, and the time to read it.
    archive_bytes: int = 1024 * MIB
    member_bytes: int = 256 * MIB
    archive_members: int = 10_000
    archive_seconds: float = 120.0
    # A metrics page (the controller's /metrics, a metrics.txt): bytes, series and parse time.
    metrics_bytes: int = 32 * MIB
    metrics_series: int = 100_000
    metrics_seconds: float = 30.0
    # A JSON document from outside (a bundle's manifest.json, pod.json...): nesting depth.
    json_depth: int = 64
    # The incident report page: everything in it, its flame graphs sharing ``report_flame_bytes``.
    report_bytes: int = 5_000_000
    report_flame_bytes: int = 4_200_000
    # Profiles drawn in a report: the largest ones; the others are listed by name only.
    report_profiles: int = 24


DEFAULT = Budget()


class InputTooLarge(ProfileError):
    """Input from outside over one of the budget's bounds."""

    default_hint = "this is not what the plugin writes; check where the file came from (bounds: README, Limits)"


class Deadline:
    """A time bound: ``check()`` raises ``InputTooLarge`` naming ``what`` once ``seconds`` have passed."""

    def __init__(self, seconds: float, what: str, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._end = clock() + seconds
        self._seconds = seconds
        self._what = what

    def check(self) -> None:
        if self._clock() > self._end:
            raise InputTooLarge(f"{self._what}: not read within {self._seconds:g}s (the time bound for it)")


# Everything in a JSON text that is not a bracket: strings (with their escapes) and the rest.
_NOT_BRACKETS = re.compile(rb'"(?:[^"\\]|\\.)*"|[^\[\]{}"]+', re.DOTALL)


def json_depth(data: bytes, *, stop_past: int | None = None) -> int:
    """How deep the arrays and objects of a JSON text nest (brackets inside strings do not count); counting stops
    as soon as the depth passes ``stop_past``."""
    depth = deepest = 0
    for byte in _NOT_BRACKETS.sub(b"", data):
        if byte in b"[{":
            depth += 1
            if depth > deepest:
                deepest = depth
                if stop_past is not None and deepest > stop_past:
                    break
        else:
            depth -= 1
    return deepest


def loads(data: bytes, *, name: str, budget: Budget = DEFAULT) -> Any:
    """A JSON document from outside, refused (``InputTooLarge``) when it nests deeper than the budget — Python's
    parser would otherwise fail with RecursionError."""
    depth = json_depth(data, stop_past=budget.json_depth)
    if depth > budget.json_depth:
        raise InputTooLarge(f"{name}: JSON nested more than {budget.json_depth} levels deep (the bound for JSON read "
                            "from outside)")
    return json.loads(data)
