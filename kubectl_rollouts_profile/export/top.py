"""The top table: flat, flat%, sum%, cum, cum% and function name per function, like ``go tool pprof -top``."""

from __future__ import annotations

from typing import BinaryIO

import numpy as np

from kubectl_rollouts_profile.export.base import Renderer, require_samples
from kubectl_rollouts_profile.export.units import percentage, scaled_label
from kubectl_rollouts_profile.pprof.model import Profile
from kubectl_rollouts_profile.pprof.stacks import address_name, function_name, key_totals, stack_table
from kubectl_rollouts_profile.safe import terminal


def function_totals(profile: Profile, sample_index: int) -> tuple[dict[str, int], dict[str, int]]:
    """Flat and cumulative value per function name (a recursive function counts once per stack in cum)."""
    totals = key_totals(profile, sample_index, function_name, address_name)
    labels = totals.keys
    return (
        {labels[i]: int(totals.flat[i]) for i in np.flatnonzero(totals.is_leaf).tolist()},
        {labels[i]: int(totals.cum[i]) for i in np.flatnonzero(totals.seen).tolist()},
    )


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
        f"Profile: {terminal(title)}",
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
            f"{percentage(cum[name], denominator)}  {terminal(name)}"
        )
    return "\n".join(lines) + "\n"


def _change(profile: Profile, sample_index: int) -> tuple[int, int]:
    """Of a diff: the sum of stacks that grew and of those that shrank (same stacks in both cancel out)."""
    (column,) = stack_table(profile, (sample_index,)).columns
    return int(column[column > 0].sum()), int(column[column < 0].sum())
