"""Folded stacks (``root;caller;leaf value`` per line), the input of flamegraph.pl and inferno."""

from __future__ import annotations

from typing import BinaryIO

from kubectl_rollouts_profile.export.base import Renderer, require_samples
from kubectl_rollouts_profile.pprof.model import Profile
from kubectl_rollouts_profile.pprof.stacks import stack_table


class FoldedRenderer(Renderer):
    name = "folded"
    extension = ".folded.txt"
    is_text = True

    def render_to(self, profile: Profile, out: BinaryIO, *, title: str, sample_index: str | None = None,
                  nodes: int | None = None) -> None:  # fmt: skip
        out.write(render_folded(profile, sample_index=sample_index).encode())


def render_folded(profile: Profile, *, sample_index: str | int | None = None) -> str:
    require_samples(profile)
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
