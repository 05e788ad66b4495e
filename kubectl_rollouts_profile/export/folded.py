"""Folded stacks (``root;caller;leaf value`` per line), the input of flamegraph.pl and inferno."""

from __future__ import annotations

from kubectl_rollouts_profile.pprof.model import Profile
from kubectl_rollouts_profile.pprof.stacks import stack_table


def render_folded(profile: Profile, *, sample_index: str | int | None = None) -> str:
    if not profile.sample_types:
        return ""
    index = profile.sample_index(sample_index)
    table = stack_table(profile, (index,))
    # ";" separates frames and the last space separates the value, so neither may appear inside a name.
    names = [frame.name.replace(";", ":").replace("\n", " ") for frame in table.frames]
    lines = sorted(
        ";".join(names[frame] for frame in stack) + f" {value}"
        for stack, (value,) in zip(table.stacks, table.values, strict=True)
        if stack and value
    )
    return "".join(line + "\n" for line in lines)
