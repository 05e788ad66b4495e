"""Profile -> rows: the profile's values summed by subsystem (the catalog), by Go package or by function, each row
with flat (where the samples' innermost frame is) and cum (samples with the key anywhere in their stack).

By subsystem, root frames (``runtime.goexit``, ``runtime.main``, ``main.main``, trampolines: the catalog's ``ROOT``)
give no subsystem its cum: they are under every stack and say nothing of where the time went. Whatever the
grouping, the rollup also counts the samples whose stacks run the kubectl plugin or its dashboard (the catalog's
``CLI_DASHBOARD``): a profile made mostly of them is not the controller's (``Rollup.not_controller``)."""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass

import numpy as np

from kubectl_rollouts_profile.analysis.catalog import CLI_DASHBOARD, ROOT, Catalog, default_catalog, package_of
from kubectl_rollouts_profile.errors import UsageError
from kubectl_rollouts_profile.pprof.model import Profile
from kubectl_rollouts_profile.pprof.stacks import (
    LocationStacks,
    address_name,
    function_name,
    key_totals,
    location_keys,
    location_stacks,
    value_column,
)

GROUPINGS = ("subsystem", "package", "function")
_STACK_BATCH = 8192  # stacks whose names are looked up together
NOT_CONTROLLER_SHARE = 0.5  # above this share of CLI/dashboard samples, a profile is not the controller's


@dataclass(frozen=True)
class Stack:
    """One distinct call stack: function names innermost first (inlined frames expanded) and its value."""

    functions: tuple[str, ...]
    value: int


@dataclass(frozen=True)
class RollupRow:
    key: str
    flat: int
    cum: int


@dataclass(frozen=True)
class Rollup:
    grouping: str
    sample_type: str
    unit: str
    total: int
    rows: tuple[RollupRow, ...]  # largest flat first
    cli: int = 0  # the value of the samples with kubectl plugin / dashboard code on their stack

    @property
    def not_controller_share(self) -> float:
        """The share of the profile spent in the kubectl plugin or its dashboard, not in the controller."""
        return self.cli / self.total if self.total > 0 else 0.0

    @property
    def not_controller(self) -> bool:
        return self.not_controller_share > NOT_CONTROLLER_SHARE

    def note(self) -> str | None:
        """A warning line when the profile is mostly not the controller's."""
        if not self.not_controller:
            return None
        return (f"{100 * self.not_controller_share:.0f}% of this profile is {CLI_DASHBOARD} code, not the "
                "controller's: it was taken from a kubectl-argo-rollouts / dashboard process; profile the "
                "controller pod instead")

    def row(self, key: str) -> RollupRow | None:
        return next((row for row in self.rows if row.key == key), None)

    def share(self, key: str, *, cumulative: bool = False) -> float:
        row = self.row(key)
        if row is None or not self.total:
            return 0.0
        return (row.cum if cumulative else row.flat) / self.total


def stacks(profile: Profile, sample_index: str | int | None = None, *, within: Collection[str] = (),
           catalog: Catalog | None = None) -> Iterator[Stack]:  # fmt: skip
    """The profile's samples merged by identical stacks (zero-valued ones left out); with ``within``, only the
    stacks with a frame of one of those subsystems (picked in bulk, before any name is looked up: a rule about
    one subsystem reads a few stacks of a huge profile, not all of them). Names are looked up a batch of stacks at
    a time: one array expansion per batch, not Python work per location."""
    index = profile.sample_index(sample_index)
    merged = location_stacks(profile, (index,))
    values = merged.columns[0]
    live = np.flatnonzero(values != 0)
    if within:
        live = live[_having(profile, merged, live, set(within), catalog or default_catalog())]
    names, table = location_keys(profile, function_name, address_name, root_first=False)
    picks = live.tolist()
    for start in range(0, len(picks), _STACK_BATCH):
        picked = picks[start : start + _STACK_BATCH][::-1]
        keys = [merged.keys[position] for position in picked]
        # Reversed as a whole, the batch's root-first ids read leaf first per stack, stacks in reverse order.
        ids, lengths = merged.ids_joined(keys)
        codes, per_location = table.expand(table.lookup(ids[::-1]))
        ends = _ends(per_location, lengths[::-1])
        frames = list(map(names.__getitem__, codes.tolist()))
        first = 0
        for position, end in zip(reversed(picked), ends.tolist(), strict=True):
            yield Stack(tuple(frames[first:end]), int(values[position]))
            first = end


def _ends(per_item: np.ndarray, items_per_group: np.ndarray) -> np.ndarray:
    """Where each group's run ends in the items' expansion: groups of consecutive items, each item ``per_item``
    long."""
    running = np.zeros(len(per_item) + 1, np.int64)
    np.cumsum(per_item, out=running[1:])
    return running[np.cumsum(items_per_group)]


def _having(profile: Profile, merged: LocationStacks, positions: np.ndarray, subsystems: set[str],
            catalog: Catalog) -> np.ndarray:  # fmt: skip
    """Which of the stacks at ``positions`` have a frame in one of ``subsystems`` (a boolean per position)."""
    marks, table = location_keys(profile, lambda function: catalog.match(function.name).subsystem in subsystems,
                                 lambda address: catalog.match(f"0x{address:x}").subsystem in subsystems)  # fmt: skip
    if True not in marks:
        return np.zeros(len(positions), np.bool_)
    marked_code = marks.index(True)
    # A location is marked when one of its (inlined) frames is.
    marked_rows = np.logical_or.reduceat(table.codes == marked_code, table.starts[:-1])
    having = np.zeros(len(positions), np.bool_)
    picks = positions.tolist()
    for start in range(0, len(picks), _STACK_BATCH):
        batch = [merged.keys[position] for position in picks[start : start + _STACK_BATCH]]
        ids, lengths = merged.ids_joined(batch)
        flags = marked_rows[table.lookup(ids)]
        marked_before = np.zeros(len(flags) + 1, np.int64)  # marked locations before each position
        np.cumsum(flags, out=marked_before[1:])
        ends = np.cumsum(lengths)
        having[start : start + len(batch)] = marked_before[ends] > marked_before[ends - lengths]
    return having


def key_function(grouping: str, catalog: Catalog | None = None) -> Callable[[str], str]:
    if grouping == "function":
        return lambda name: name
    if grouping == "package":
        return package_of
    if grouping == "subsystem":
        chosen = catalog or default_catalog()
        return lambda name: chosen.match(name).subsystem
    raise UsageError(f"unknown grouping {grouping!r}", "choose one of: " + ", ".join(GROUPINGS))


def rollup(profile: Profile, by: str = "subsystem", *, sample_index: str | int | None = None,
           catalog: Catalog | None = None) -> Rollup:  # fmt: skip
    """The profile's values grouped ``by`` subsystem, package or function (array work per sample, as top's)."""
    key_of = key_function(by, catalog)
    chosen = catalog or default_catalog()
    index = profile.sample_index(sample_index)
    sample_type = profile.sample_types[index]
    totals = key_totals(profile, index, lambda function: key_of(function.name),
                        lambda address: key_of(f"0x{address:x}"), marked=_cli_key(by, chosen))  # fmt: skip
    keys = totals.keys
    seen = np.flatnonzero(totals.seen).tolist()
    flat = {keys[number]: int(totals.flat[number]) for number in seen}
    cum = {keys[number]: int(totals.cum[number]) for number in seen}
    if by == "subsystem" and ROOT in cum:
        cum[ROOT] = flat.get(ROOT, 0)  # only where a root frame is the innermost one
        if not cum[ROOT]:
            del cum[ROOT]
    total = int(value_column(profile, index).sum())
    rows = sorted((RollupRow(key, flat.get(key, 0), value) for key, value in cum.items()),
                  key=lambda row: (-abs(row.flat), -abs(row.cum), row.key))
    return Rollup(by, sample_type.type, sample_type.unit, total, tuple(rows), totals.marked)


def _cli_key(by: str, catalog: Catalog) -> Callable[[str], bool]:
    """Whether a key of the grouping is kubectl plugin / dashboard code."""
    if by == "subsystem":
        return CLI_DASHBOARD.__eq__
    if by == "package":
        return lambda package: catalog.match_package(package).subsystem == CLI_DASHBOARD
    return lambda name: catalog.match(name).subsystem == CLI_DASHBOARD


def render_rollup(table: Rollup, *, title: str, rows: int | None = None) -> str:
    """The rollup as a text table in the style of ``go tool pprof -top``; its keys (names from a profile) shown
    with their control characters escaped."""
    from kubectl_rollouts_profile.export.units import percentage, scaled_label
    from kubectl_rollouts_profile.safe import terminal

    unit = table.unit
    shown = table.rows if rows is None else table.rows[:rows]
    lines = [
        f"Profile: {terminal(title)}",
        f"Type: {table.sample_type} ({unit or 'count'}), by {table.grouping}, total {scaled_label(table.total, unit)}",
        "      flat  flat%        cum   cum%",
    ]
    denominator = table.total or 1
    for row in shown:
        lines.append(f"{scaled_label(row.flat, unit):>10} {percentage(row.flat, denominator)} "
                     f"{scaled_label(row.cum, unit):>10} {percentage(row.cum, denominator)}  {terminal(row.key)}")
    if len(shown) < len(table.rows):
        lines.append(f"({len(table.rows) - len(shown)} more rows)")
    return "\n".join(lines) + "\n"


def render_table(profile: Profile, by: str = "function", *, title: str, sample_index: str | int | None = None,
                 nodes: int | None = None) -> str:  # fmt: skip
    """The top table of ``convert``/``diff``/``--top``: by function it is pprof's top; by package or subsystem
    the rollup (a diff's values net out per key: growth minus shrink)."""
    if by == "function":
        from kubectl_rollouts_profile.export.top import render_top

        return render_top(profile, title=title, sample_index=sample_index, nodes=nodes)
    return render_rollup(rollup(profile, by, sample_index=sample_index), title=title, rows=nodes)


def check_grouping(by: str, fmt: str) -> None:
    """``--by`` groups the rows of a top table; any other format has no rows to group."""
    if by != "function" and fmt != "top":
        raise UsageError(f"--by {by} groups the rows of a top table, not {fmt}", "use --format top with --by")
