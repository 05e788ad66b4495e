"""The top table: flat, flat%, sum%, cum, cum% and function name per function, like ``go tool pprof -top``."""

from __future__ import annotations

import sys
from array import array
from typing import BinaryIO

from kubectl_rollouts_profile.errors import ProfileError
from kubectl_rollouts_profile.export.base import Renderer, require_samples
from kubectl_rollouts_profile.export.units import percentage, scaled_label
from kubectl_rollouts_profile.pprof.model import Profile
from kubectl_rollouts_profile.pprof.stacks import expand_stacks, location_stacks, stack_table


def function_totals(profile: Profile, sample_index: int) -> tuple[dict[str, int], dict[str, int]]:
    """Flat and cumulative value per function name (a recursive function counts once per stack in cum)."""
    stacks = location_stacks(profile, (sample_index,))
    # Function names become small ints, packed once per location root first; every stack is then expanded in C
    # into one bytes of name ids, and the per-stack work is a set of ints.
    name_ids: dict[str, int] = {}
    location_names = {
        location_id: _packed(
            [name_ids.setdefault(name, len(name_ids)) for name in reversed(profile.function_names(location_id))]
        )
        for location_id in profile.locations
    }
    if len(name_ids) >= 1 << 24:  # the boundary below needs a zero last byte in every id
        raise ProfileError(f"too many distinct functions for a top table ({len(name_ids)})")
    expanded = expand_stacks(stacks, location_names, boundary="\xff" * 4)
    flat = [0] * len(name_ids)
    cum = [0] * len(name_ids)
    leaves: set[int] = set()
    seen: set[int] = set()
    for names_in_stack, value in zip(expanded, stacks.columns[0], strict=True):
        if not names_in_stack or value == 0:
            continue
        ids = _unpacked(names_in_stack)
        leaf = ids[-1]
        flat[leaf] += value
        leaves.add(leaf)
        in_stack = set(ids)
        seen |= in_stack
        for name in in_stack:
            cum[name] += value
    names = list(name_ids)
    return {names[i]: flat[i] for i in leaves}, {names[i]: cum[i] for i in seen}


def _packed(ids: list[int]) -> str:
    # Little-endian with ids below 2**24: every 4-byte id ends in a zero byte, so four 0xff bytes read left to right
    # can only be the boundary between stacks.
    packed = array("I", ids)
    if sys.byteorder == "big":
        packed.byteswap()
    return packed.tobytes().decode("latin-1")


def _unpacked(text: str) -> array:
    ids = array("I", text.encode("latin-1"))
    if sys.byteorder == "big":
        ids.byteswap()
    return ids


class TopRenderer(Renderer):
    name = "top"
    extension = ".top.txt"
    is_text = True

    def render_to(self, profile: Profile, out: BinaryIO, *, title: str, sample_index: str | None = None,
                  nodes: int | None = None) -> None:  # fmt: skip
        out.write(render_top(profile, title=title, sample_index=sample_index, nodes=nodes).encode())


def render_top(profile: Profile, *, title: str, sample_index: str | int | None = None, nodes: int | None = None) -> str:
    require_samples(profile)
    index = profile.sample_index(sample_index)
    sample_type = profile.sample_types[index]
    unit = sample_type.unit
    flat, cum = function_totals(profile, index)
    column = profile.values_store.column(index)
    total = sum(column)
    # A diff profile has negative values: its percentages are shares of all the change, grown or shrunk.
    is_diff = bool(column) and min(column) < 0
    denominator = sum(map(abs, column)) if is_diff else total
    rows = sorted(
        (name for name in cum if cum[name] or flat.get(name)),
        key=lambda name: (-abs(flat.get(name, 0)), -abs(cum[name]), name),
    )
    shown = rows if nodes is None else rows[: max(nodes, 0)]
    shown_flat = sum(flat.get(name, 0) for name in shown)
    lines = [
        f"Profile: {title}",
        f"Type: {sample_type.type} ({unit or 'count'})",
        f"Showing nodes accounting for {scaled_label(shown_flat, unit)}, "
        f"{percentage(shown_flat, denominator).strip()} of {scaled_label(total, unit)} total",
    ]
    if is_diff:
        grew, shrank = _change(profile, index)
        lines.append(f"Change: grew {scaled_label(grew, unit)}, shrank {scaled_label(shrank, unit)}")
    if len(shown) < len(rows):
        lines.append(f"Showing top {len(shown)} nodes out of {len(rows)}")
    lines.append("      flat  flat%   sum%        cum   cum%")
    running = 0
    for name in shown:
        flat_value = flat.get(name, 0)
        running += flat_value
        lines.append(
            f"{scaled_label(flat_value, unit):>10} {percentage(flat_value, denominator)} "
            f"{percentage(running, denominator)} {scaled_label(cum[name], unit):>10} "
            f"{percentage(cum[name], denominator)}  {name}"
        )
    return "\n".join(lines) + "\n"


def _change(profile: Profile, sample_index: int) -> tuple[int, int]:
    """Of a diff: the sum of stacks that grew and of those that shrank (same stacks in both cancel out)."""
    (column,) = stack_table(profile, (sample_index,)).columns
    return sum(value for value in column if value > 0), sum(value for value in column if value < 0)
