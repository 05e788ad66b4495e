"""Folded stacks (``root;caller;leaf value`` per line), the input of flamegraph.pl and inferno."""

from __future__ import annotations

import io
from typing import BinaryIO

from kubectl_rollouts_profile.export.base import Renderer, require_samples
from kubectl_rollouts_profile.pprof.model import Profile
from kubectl_rollouts_profile.pprof.stacks import stack_table


class FoldedRenderer(Renderer):
    name = "folded"
    extension = ".folded.txt"
    streams = True
    is_text = True

    def render_to(self, profile: Profile, out: BinaryIO, *, title: str, sample_index: str | None = None,
                  nodes: int | None = None) -> None:  # fmt: skip
        write_folded(profile, out, sample_index=sample_index)


def render_folded(profile: Profile, *, sample_index: str | int | None = None) -> str:
    """The whole folded text (for small profiles and tests; files are written with ``write_folded``)."""
    buffer = io.BytesIO()
    write_folded(profile, buffer, sample_index=sample_index)
    return buffer.getvalue().decode()


def write_folded(profile: Profile, out: BinaryIO, *, sample_index: str | int | None = None) -> None:
    """Write one line per distinct stack of function names with a non-zero value, sorted by the names frame by
    frame, in batches: only one batch of lines is ever text in memory."""
    require_samples(profile)
    index = profile.sample_index(sample_index)
    table = stack_table(profile, (index,), by_name=True)
    (column,) = table.columns
    # ";" separates frames and the last space separates the value, so neither may appear inside a name.
    names = [frame.name.replace(";", ":").replace("\n", " ") for frame in table.frames]
    order = [position for position in table.sorted_order(skip_empty=True) if column[position]]
    values = list(map(column.__getitem__, order))
    del column
    done = 0
    for texts in table.joined(names, order, separator=";"):
        lines = map("{} {}\n".format, texts, values[done : done + len(texts)])
        out.write("".join(lines).encode())
        done += len(texts)
