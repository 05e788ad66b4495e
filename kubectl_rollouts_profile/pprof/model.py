"""The Profile value: one immutable, compact picture of a pprof file.

Samples live in flat arrays (all location ids of all samples in one array, all values in another), not as one
object per sample or frame; they read as tuples of location ids (leaf first) and value tuples. Strings are resolved
once from the string table; labels are built only when something asks for them.
"""

from __future__ import annotations

import builtins
from array import array
from collections.abc import Callable, Iterable, Iterator, Sequence
from collections.abc import Mapping as MappingABC
from dataclasses import dataclass, field
from itertools import accumulate, chain, pairwise
from types import MappingProxyType
from typing import Any, NamedTuple, overload

from kubectl_rollouts_profile.errors import ProfileError


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


def id_array(ids: Iterable[int]) -> array:
    """Location ids in the narrowest array that holds them: 4 bytes each unless some id needs 8."""
    try:
        return array("I", ids)
    except OverflowError:
        return array("Q", ids)


class _FlatRows(Sequence[tuple[int, ...]]):
    """Rows of ints kept in flat arrays, read as a sequence of tuples; subclasses give ``__len__`` and ``_row``."""

    __slots__ = ()

    def _row(self, index: int) -> tuple[int, ...]:
        raise NotImplementedError

    @overload
    def __getitem__(self, index: int) -> tuple[int, ...]: ...
    @overload
    def __getitem__(self, index: slice) -> tuple[tuple[int, ...], ...]: ...
    def __getitem__(self, index: int | slice) -> Any:
        if isinstance(index, slice):
            return tuple(self._row(i) for i in range(*index.indices(len(self))))
        return self._row(range(len(self))[index])  # negative indexes and IndexError, like a tuple

    def _equal_rows(self, other: object) -> bool:
        if isinstance(other, Sequence):
            return len(self) == len(other) and all(a == tuple(b) for a, b in zip(self, other, strict=True))
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]


class SampleLocations(_FlatRows):
    """The location ids of every sample (leaf first, as in the file) in one flat array: ``ids`` holds them all,
    sample ``i`` at ``ids[bounds[i]:bounds[i + 1]]``."""

    __slots__ = ("ids", "bounds")

    def __init__(self, ids: array, bounds: array) -> None:
        self.ids = ids
        self.bounds = bounds

    @classmethod
    def of(cls, stacks: Iterable[Sequence[int]]) -> SampleLocations:
        stacks = list(stacks)
        return cls(id_array(chain.from_iterable(stacks)), array("Q", accumulate(map(len, stacks), initial=0)))

    def __len__(self) -> int:
        return len(self.bounds) - 1

    def _row(self, index: int) -> tuple[int, ...]:
        return tuple(self.ids[self.bounds[index] : self.bounds[index + 1]])

    def __iter__(self) -> Iterator[tuple[int, ...]]:
        ids, bounds = self.ids, self.bounds
        return (tuple(ids[start:end]) for start, end in pairwise(bounds))

    def __eq__(self, other: object) -> bool:
        if isinstance(other, SampleLocations):
            return self.bounds == other.bounds and self.ids == other.ids
        return self._equal_rows(other)

    def __repr__(self) -> str:
        return f"SampleLocations({len(self)} samples, {len(self.ids)} frames)"


class SampleValues(_FlatRows):
    """The values of every sample in one flat array, ``width`` (one per sample type) per sample."""

    __slots__ = ("flat", "width", "samples")

    def __init__(self, flat: array, width: int, samples: int) -> None:
        if len(flat) != width * samples:
            raise ValueError(f"{len(flat)} values are not {samples} samples of {width}")
        self.flat = flat
        self.width = width
        self.samples = samples

    @classmethod
    def of(cls, values: Iterable[Sequence[int]], width: int) -> SampleValues:
        values = list(values)
        if any(len(row) != width for row in values):
            raise ValueError(f"every sample needs {width} values, one per sample type")
        return cls(array("q", chain.from_iterable(values)), width, len(values))

    def column(self, index: int) -> array:
        """One sample type's values, in sample order."""
        if not 0 <= index < self.width:
            raise IndexError(index)
        return self.flat[index :: self.width]

    def __len__(self) -> int:
        return self.samples

    def _row(self, index: int) -> tuple[int, ...]:
        return tuple(self.flat[index * self.width : (index + 1) * self.width])

    def __iter__(self) -> Iterator[tuple[int, ...]]:
        if self.width == 0:
            return iter(((),) * self.samples)
        columns = [self.column(i) for i in range(self.width)]
        return zip(*columns, strict=True)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, SampleValues):
            return self.samples == other.samples and self.width == other.width and self.flat == other.flat
        return self._equal_rows(other)

    def __repr__(self) -> str:
        return f"SampleValues({self.samples} samples of {self.width})"


class LazyLabels(Sequence[tuple[Label, ...]]):
    """Per-sample label tuples, built on first use by ``load`` (most renderers never look at labels, and building
    them costs a Python object per sample)."""

    __slots__ = ("_count", "_load", "_labels")

    def __init__(self, count: int, load: Callable[[], tuple[tuple[Label, ...], ...]] | None) -> None:
        self._count = count
        self._load = load
        self._labels: tuple[tuple[Label, ...], ...] | None = None if load else ((),) * count

    def _all(self) -> tuple[tuple[Label, ...], ...]:
        if self._labels is None:
            assert self._load is not None
            labels = self._load()
            if len(labels) != self._count:
                raise ValueError(f"{len(labels)} label sets for {self._count} samples")
            self._labels, self._load = labels, None
        return self._labels

    def __len__(self) -> int:
        return self._count

    @overload
    def __getitem__(self, index: int) -> tuple[Label, ...]: ...
    @overload
    def __getitem__(self, index: slice) -> tuple[tuple[Label, ...], ...]: ...
    def __getitem__(self, index: int | slice) -> Any:
        return self._all()[index]

    def __iter__(self) -> Iterator[tuple[Label, ...]]:
        return iter(self._all())

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Sequence):
            return self._all() == tuple(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"LazyLabels({self._count} samples)"


def _frozen(mapping: MappingABC | None = None) -> MappingABC:
    return MappingProxyType(dict(mapping or {}))


@dataclass(frozen=True)
class Profile:
    """``sample_locations`` and ``sample_values`` accept any sequences of tuples and are stored as
    SampleLocations and SampleValues (flat arrays); ``sample_labels`` may be a LazyLabels."""

    sample_types: tuple[ValueType, ...] = ()
    sample_locations: Sequence[tuple[int, ...]] = ()
    sample_values: Sequence[tuple[int, ...]] = ()
    sample_labels: Sequence[tuple[Label, ...]] = ()
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

    def __post_init__(self) -> None:
        # Frozen: the compact forms are set once here, through object.__setattr__.
        if not isinstance(self.sample_locations, SampleLocations):
            object.__setattr__(self, "sample_locations", SampleLocations.of(self.sample_locations))
        if not isinstance(self.sample_values, SampleValues):
            object.__setattr__(self, "sample_values", SampleValues.of(self.sample_values, len(self.sample_types)))
        if not isinstance(self.sample_labels, LazyLabels | tuple):
            object.__setattr__(self, "sample_labels", tuple(self.sample_labels))

    @property
    def locations_store(self) -> SampleLocations:
        """The samples' location ids as flat arrays (what renderers iterate)."""
        assert isinstance(self.sample_locations, SampleLocations)
        return self.sample_locations

    @property
    def values_store(self) -> SampleValues:
        """The samples' values as one flat array (what renderers iterate)."""
        assert isinstance(self.sample_values, SampleValues)
        return self.sample_values

    @property
    def sample_count(self) -> int:
        return len(self.sample_locations)

    def has_negative_values(self) -> bool:
        """True for a diff (it holds the base's samples negated)."""
        import numpy as np  # only the renderers need it, and only this method of the model

        flat = self.values_store.flat
        return bool(flat) and bool(np.frombuffer(flat, np.int64).min() < 0)

    def sample_index(self, name: str | int | None = None) -> int:
        """The position of a sample type by name (or position); None means the default one, as pprof picks it:
        the declared default sample type, else the last type."""
        if not self.sample_types:
            raise ProfileError("the profile has no sample types", "the file holds no samples to show")
        if isinstance(name, int):
            if 0 <= name < len(self.sample_types):
                return name
            raise ProfileError(f"sample index {name} is out of range (0..{len(self.sample_types) - 1})")
        wanted = name or self.default_sample_type
        if not wanted:
            return len(self.sample_types) - 1
        names = [value_type.type for value_type in self.sample_types]
        if wanted in names:
            return names.index(wanted)
        raise ProfileError(
            f"unknown sample type {wanted!r}",
            "choose one of: " + ", ".join(names),
        )

    def total(self, sample_index: str | int | None = None) -> int:
        index = self.sample_index(sample_index)
        return sum(self.values_store.column(index))

    def function_names(self, location_id: int) -> tuple[str, ...]:
        """Function names at one location, innermost first; an unsymbolized location shows its address."""
        location = self.locations[location_id]
        if not location.lines:
            return (f"0x{location.address:x}",)
        return tuple(self.functions[line.function_id].name for line in location.lines)
