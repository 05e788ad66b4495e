"""The top table: flat, flat%, sum%, cum, cum% and function name per function, like ``go tool pprof -top``."""

from __future__ import annotations

from kubectl_rollouts_profile.export.units import percentage, scaled_label
from kubectl_rollouts_profile.pprof.model import Profile
from kubectl_rollouts_profile.pprof.stacks import stack_table


def function_totals(profile: Profile, sample_index: int) -> tuple[dict[str, int], dict[str, int]]:
    """Flat and cumulative value per function name (a recursive function counts once per stack in cum)."""
    table = stack_table(profile, (sample_index,))
    names = [frame.name for frame in table.frames]
    flat: dict[str, int] = {}
    cum: dict[str, int] = {}
    for stack, (value,) in zip(table.stacks, table.values, strict=True):
        if not stack or value == 0:
            continue
        leaf = names[stack[-1]]
        flat[leaf] = flat.get(leaf, 0) + value
        for name in {names[frame] for frame in stack}:
            cum[name] = cum.get(name, 0) + value
    return flat, cum


def render_top(profile: Profile, *, title: str, sample_index: str | int | None = None, nodes: int | None = None) -> str:
    index = profile.sample_index(sample_index)
    sample_type = profile.sample_types[index]
    unit = sample_type.unit
    flat, cum = function_totals(profile, index)
    total = sum(values[index] for values in profile.sample_values)
    # A diff profile has negative values: its percentages are shares of all the change, grown or shrunk.
    is_diff = any(values[index] < 0 for values in profile.sample_values)
    denominator = sum(abs(values[index]) for values in profile.sample_values) if is_diff else total
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
    table = stack_table(profile, (sample_index,))
    grew = sum(value for (value,) in table.values if value > 0)
    return grew, sum(value for (value,) in table.values if value < 0)
