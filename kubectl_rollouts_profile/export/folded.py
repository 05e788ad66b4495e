"""Folded stacks (``root;caller;leaf value`` per line), the input of flamegraph.pl and inferno."""

from __future__ import annotations

import io
from typing import BinaryIO

import numpy as np

from kubectl_rollouts_profile.export.base import Renderer, require_samples
from kubectl_rollouts_profile.export.texts import TextTable
from kubectl_rollouts_profile.pprof.model import Profile
from kubectl_rollouts_profile.pprof.stacks import stack_table
from kubectl_rollouts_profile.safe import terminal


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
    # ";" separates frames and a newline lines, so neither may appear inside a name; nor may a control character
    # (shown escaped, as on a terminal).
    texts = [(";" + terminal(frame.name.replace(";", ":"))).encode() for frame in table.frames]
    sorted_positions = np.array(table.sorted_order(skip_empty=True), dtype=np.int64)
    shown = sorted_positions[column[sorted_positions] != 0]
    order = shown.tolist()
    # Each line's value is a text of its own, after the names: token len(names) + line number.
    first_value = len(texts)
    texts += [b" %d\n" % value for value in column[shown].tolist()]
    del column
    table_texts = TextTable(texts)
    del texts
    done = 0
    for frames, counts in table.frame_runs(order):
        lines = np.arange(len(counts))
        tokens = np.empty(len(frames) + len(counts), np.int64)
        tokens[np.arange(len(frames)) + np.repeat(lines, counts)] = frames
        tokens[np.cumsum(counts) + lines] = first_value + done + lines
        text, _ = table_texts.join(tokens, np.cumsum(counts + 1) - (counts + 1))
        out.write(text.data)
        done += len(counts)
