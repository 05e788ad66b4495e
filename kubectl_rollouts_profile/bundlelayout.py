"""The bundle's layout, declared once for its writer (``runbook/bundle.py``) and its reader (``analysis/inputs.py``):
the names of the members inside the archive, and manifest.json's fields with their JSON keys and types.

A manifest read from an archive someone sent is taken field by field: a field that is missing or of another type
than declared here reads as its default, so a foreign or older bundle still gives what it has.
"""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass, field
from typing import Any

# Members at the top of the archive's one directory.
MANIFEST = "manifest.json"
METRICS = "metrics.txt"
POD = "pod.json"
EVENTS = "events.json"
LEASE = "lease.json"
VERSIONS = "versions.json"
REPORT = "report.html"
# The goroutine stacks as text (debug=2), taken with the first snapshots.
GOROUTINE_TEXT = "before/goroutine-debug2.txt"

PROFILE_SUFFIX = ".pb.gz"  # every profile member: ``cpu.pb.gz``, ``before/heap.pb.gz``
TOP_SUFFIX = ".top.txt"  # its top table beside it
# The snapshots taken before the cpu capture and after it sit in these folders; a reader compares them.
BEFORE = "before"
AFTER = "after"
PHASES = (BEFORE, AFTER)


def profile_member(stem: str) -> str:
    """``before/heap`` -> ``before/heap.pb.gz``."""
    return stem + PROFILE_SUFFIX


def top_member(stem: str) -> str:
    """``before/heap`` -> ``before/heap.top.txt``."""
    return stem + TOP_SUFFIX


def is_profile(member: str) -> bool:
    return member.endswith(PROFILE_SUFFIX)


def phase_of(member: str) -> str:
    """``before`` or ``after`` for a snapshot in one of those folders, else empty."""
    folder = member.split("/", 1)[0] if "/" in member else ""
    return folder if folder in PHASES else ""


def _key(name: str) -> dict[str, str]:
    """Field metadata: the field's key in the JSON (camelCase, as the manifest has always written it)."""
    return {"key": name}


@dataclass(frozen=True)
class ManifestPod:
    """The controller pod the bundle was taken from."""

    namespace: str = ""
    pod: str = ""
    image: str = ""


@dataclass(frozen=True)
class ManifestItem:
    """One member, or the reason it is missing (``error``) or was not kept (``note``)."""

    name: str = ""
    size: int | None = None
    sha256: str | None = None
    started_at: str = field(default="", metadata=_key("startedAt"))
    finished_at: str = field(default="", metadata=_key("finishedAt"))
    seconds: float = 0.0
    error: str | None = None
    note: str | None = field(default=None, metadata={"omit_none": True})


@dataclass(frozen=True)
class Manifest:
    """manifest.json: the first member of every bundle."""

    bundle: str = ""
    created_at: str = field(default="", metadata=_key("createdAt"))
    plugin: str = ""
    controller: ManifestPod = field(default_factory=ManifestPod, metadata=_key("target"))
    cpu_seconds: int = field(default=0, metadata=_key("cpuSeconds"))
    complete: bool | None = None  # None: not said (a foreign manifest); the writer always says
    warnings: tuple[str, ...] = ()
    load: dict[str, Any] | None = None  # the load guard's reading (loadguard.LoadReading.as_json)
    items: tuple[ManifestItem, ...] = ()

    def as_json(self) -> dict[str, Any]:
        return _to_json(self)

    @classmethod
    def from_json(cls, value: object) -> Manifest:
        return _from_json(cls, value)


def _to_json(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        out = {}
        for spec in dataclasses.fields(value):
            item = getattr(value, spec.name)
            if item is None and spec.metadata.get("omit_none"):
                continue
            out[spec.metadata.get("key", spec.name)] = _to_json(item)
        return out
    if isinstance(value, (tuple, list)):
        return [_to_json(item) for item in value]
    return value


def _from_json(cls: Any, value: object) -> Any:
    """An instance of the dataclass ``cls`` from parsed JSON; each field of the wrong type reads as its default."""
    if not isinstance(value, dict):
        return cls()
    hints = typing.get_type_hints(cls)
    given = {}
    for spec in dataclasses.fields(cls):
        key = spec.metadata.get("key", spec.name)
        if key in value:
            converted = _convert(hints[spec.name], value[key])
            if converted is not _WRONG:
                given[spec.name] = converted
    return cls(**given)


_WRONG = object()


def _convert(kind: Any, value: object) -> Any:
    """``value`` as the declared type ``kind``, or ``_WRONG``."""
    origin, args = typing.get_origin(kind), typing.get_args(kind)
    if origin is typing.Union or type(kind).__name__ == "UnionType":
        if value is None and type(None) in args:
            return None
        for option in args:
            if option is not type(None):
                converted = _convert(option, value)
                if converted is not _WRONG:
                    return converted
        return _WRONG
    if origin is tuple:
        if not isinstance(value, list):
            return _WRONG
        items = [_convert(args[0], item) for item in value]
        return tuple(item for item in items if item is not _WRONG)
    if origin is dict:
        return value if isinstance(value, dict) else _WRONG
    if dataclasses.is_dataclass(kind):
        return _from_json(kind, value) if isinstance(value, dict) else _WRONG
    if kind is bool:
        return value if isinstance(value, bool) else _WRONG
    if kind is int:
        return value if isinstance(value, int) and not isinstance(value, bool) else _WRONG
    if kind is float:
        return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else _WRONG
    if kind is str:
        return value if isinstance(value, str) else _WRONG
    raise TypeError(f"the manifest layout declares a type it cannot read: {kind!r}")
