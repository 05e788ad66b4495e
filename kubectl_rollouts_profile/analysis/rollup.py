"""Profile -> rows: the profile's values summed by subsystem (the catalog), by Go package or by function, each row
with flat (where the samples' innermost frame is) and cum (samples with the key anywhere in their stack).

By subsystem, root frames (``runtime.goexit``, ``runtime.main``, ``main.main``, trampolines: the catalog's ``ROOT``)
give no subsystem its cum: they are under every stack and say nothing of where the time went. Whatever the
grouping, the rollup also counts the samples whose stacks run the kubectl plugin or its dashboard (the catalog's
``CLI_DASHBOARD``): a profile made mostly of them is not the controller's (``Rollup.not_controller``)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

from kubectl_rollouts_profile.analysis.catalog import CLI_DASHBOARD, ROOT, Catalog, default_catalog, package_of
from kubectl_rollouts_profile.errors import UsageError
from kubectl_rollouts_profile.pprof.model import Profile
from kubectl_rollouts_profile.pprof.stacks import location_stacks

GROUPINGS = ("subsystem", "package", "function")
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


def stacks(profile: Profile, sample_index: str | int | None = None) -> Iterator[Stack]:
    """The profile's samples merged by identical stacks (zero-valued ones left out)."""
    index = profile.sample_index(sample_index)
    merged = location_stacks(profile, (index,))
    names: dict[int, tuple[str, ...]] = {}
    for key, value in zip(merged.keys, merged.columns[0].tolist(), strict=True):
        if not value:
            continue
        functions: list[str] = []
        for location_id in reversed(merged.ids(key)):  # root first in the key; innermost first here
            known = names.get(location_id)
            if known is None:
                known = names[location_id] = profile.function_names(location_id)
            functions.extend(known)
        yield Stack(tuple(functions), value)


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
    """The profile's values grouped ``by`` subsystem, package or function."""
    key_of = key_function(by, catalog)
    chosen = catalog or default_catalog()
    index = profile.sample_index(sample_index)
    sample_type = profile.sample_types[index]
    keys: dict[str, str] = {}
    cli_names: dict[str, bool] = {}
    flat: dict[str, int] = {}
    cum: dict[str, int] = {}
    total = cli = 0
    for stack in stacks(profile, index):
        total += stack.value
        if not stack.functions:
            continue
        in_stack = set()
        in_cli = False
        for name in stack.functions:
            key = keys.get(name)
            if key is None:
                key = keys[name] = key_of(name)
                cli_names[name] = chosen.match(name).subsystem == CLI_DASHBOARD
            in_stack.add(key)
            in_cli = in_cli or cli_names[name]
        leaf = keys[stack.functions[0]]
        flat[leaf] = flat.get(leaf, 0) + stack.value
        if by == "subsystem" and leaf != ROOT:
            in_stack.discard(ROOT)
        for key in in_stack:
            cum[key] = cum.get(key, 0) + stack.value
        if in_cli:
            cli += stack.value
    rows = sorted((RollupRow(key, flat.get(key, 0), value) for key, value in cum.items()),
                  key=lambda row: (-abs(row.flat), -abs(row.cum), row.key))
    return Rollup(by, sample_type.type, sample_type.unit, total, tuple(rows), cli)


def render_rollup(table: Rollup, *, title: str, rows: int | None = None) -> str:
    """The rollup as a text table in the style of ``go tool pprof -top``."""
    from kubectl_rollouts_profile.export.units import percentage, scaled_label

    unit = table.unit
    shown = table.rows if rows is None else table.rows[:rows]
    lines = [
        f"Profile: {title}",
        f"Type: {table.sample_type} ({unit or 'count'}), by {table.grouping}, total {scaled_label(table.total, unit)}",
        "      flat  flat%        cum   cum%",
    ]
    denominator = table.total or 1
    for row in shown:
        lines.append(f"{scaled_label(row.flat, unit):>10} {percentage(row.flat, denominator)} "
                     f"{scaled_label(row.cum, unit):>10} {percentage(row.cum, denominator)}  {row.key}")
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
