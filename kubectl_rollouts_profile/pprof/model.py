"""The Profile value: one immutable, compact picture of a pprof file.

Samples are kept as tuples of location ids (leaf first) and value tuples, not as one object per frame; strings are
resolved once from the string table, and identical label sets are shared between samples.
"""

from __future__ import annotations

import builtins
from collections.abc import Mapping as MappingABC
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import NamedTuple


class ValueType(NamedTuple):
    type: str
    unit: str


class Label(NamedTuple):
    """A sample label: either a string value (``str``) or a number (``num`` with ``num_unit``)."""

    key: builtins.str
    str: builtins.str
    num: int
    num_unit: builtins.str


class Line(NamedTuple):
    function_id: int
    line: int
    column: int = 0


@dataclass(frozen=True, slots=True)
class Function:
    id: int
    name: str
    system_name: str = ""
    filename: str = ""
    start_line: int = 0


@dataclass(frozen=True, slots=True)
class Location:
    """A program counter; ``lines`` lists the inlined calls at it, innermost (leaf) first."""

    id: int
    mapping_id: int = 0
    address: int = 0
    lines: tuple[Line, ...] = ()
    is_folded: bool = False


@dataclass(frozen=True, slots=True)
class Mapping:
    id: int
    memory_start: int = 0
    memory_limit: int = 0
    file_offset: int = 0
    filename: str = ""
    build_id: str = ""
    has_functions: bool = False
    has_filenames: bool = False
    has_line_numbers: bool = False
    has_inline_frames: bool = False


def _frozen(mapping: MappingABC | None = None) -> MappingABC:
    return MappingProxyType(dict(mapping or {}))


@dataclass(frozen=True)
class Profile:
    sample_types: tuple[ValueType, ...] = ()
    sample_locations: tuple[tuple[int, ...], ...] = ()
    sample_values: tuple[tuple[int, ...], ...] = ()
    sample_labels: tuple[tuple[Label, ...], ...] = ()
    locations: MappingABC[int, Location] = field(default_factory=_frozen)
    functions: MappingABC[int, Function] = field(default_factory=_frozen)
    mappings: MappingABC[int, Mapping] = field(default_factory=_frozen)
    drop_frames: str = ""
    keep_frames: str = ""
    time_nanos: int = 0
    duration_nanos: int = 0
    period_type: ValueType | None = None
    period: int = 0
    comments: tuple[str, ...] = ()
    default_sample_type: str = ""

    @property
    def sample_count(self) -> int:
        return len(self.sample_locations)

    def sample_index(self, name: str | int | None = None) -> int:
        """The position of a sample type by name (or position); None means the default one, as pprof picks it:
        the declared default sample type, else the last type."""
        from kubectl_rollouts_profile.errors import UsageError

        if not self.sample_types:
            raise UsageError("the profile has no sample types", "the file holds no samples to show")
        if isinstance(name, int):
            if 0 <= name < len(self.sample_types):
                return name
            raise UsageError(f"sample index {name} is out of range (0..{len(self.sample_types) - 1})")
        wanted = name or self.default_sample_type
        if not wanted:
            return len(self.sample_types) - 1
        names = [value_type.type for value_type in self.sample_types]
        if wanted in names:
            return names.index(wanted)
        raise UsageError(
            f"unknown sample type {wanted!r}",
            "choose one of: " + ", ".join(names),
        )

    def total(self, sample_index: str | int | None = None) -> int:
        index = self.sample_index(sample_index)
        return sum(values[index] for values in self.sample_values)

    def function_names(self, location_id: int) -> tuple[str, ...]:
        """Function names at one location, innermost first; an unsymbolized location shows its address."""
        location = self.locations[location_id]
        if not location.lines:
            return (f"0x{location.address:x}",)
        return tuple(self.functions[line.function_id].name for line in location.lines)
