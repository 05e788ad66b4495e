"""speedscope's file format (https://www.speedscope.app/file-format-schema.json): shared frames and one
``sampled`` profile per sample type, the default type active."""

from __future__ import annotations

from collections.abc import Iterator
from typing import BinaryIO

import numpy as np

from kubectl_rollouts_profile import __version__
from kubectl_rollouts_profile.errors import ProfileError
from kubectl_rollouts_profile.export.base import Renderer, require_samples
from kubectl_rollouts_profile.export.texts import TextTable
from kubectl_rollouts_profile.export.units import to_base_unit, unit_kind
from kubectl_rollouts_profile.pprof.model import Profile
from kubectl_rollouts_profile.pprof.stacks import StackTable, stack_table
from kubectl_rollouts_profile.safe import display_name, dumps

SCHEMA_URL = "https://www.speedscope.app/file-format-schema.json"


class SpeedscopeRenderer(Renderer):
    name = "speedscope"
    extension = ".speedscope.json"
    streams = True
    shows_negative = False  # speedscope's weights cannot be negative

    def render_to(self, profile: Profile, out: BinaryIO, *, title: str, sample_index: str | None = None,
                  nodes: int | None = None) -> None:  # fmt: skip
        write_speedscope(profile, out, title=title, sample_index=sample_index)


def write_speedscope(profile: Profile, out: BinaryIO, *, title: str, sample_index: str | int | None = None) -> None:
    """Write the speedscope document into ``out`` piece by piece; of its bulk, only the stacks' text (shared by
    the sample types) is ever whole in memory."""
    require_samples(profile)
    active = profile.sample_index(sample_index)
    if profile.has_negative_values():
        raise ProfileError(
            "speedscope cannot show negative weights, and this profile has some (it is a diff)",
            "use --format html or --format top for a diff",
        )
    title = display_name(title)
    table = stack_table(profile)
    frames, columns = table.frames, table.columns
    frame_list = [
        {"name": frame.name}
        | ({"file": frame.file} if frame.file else {})
        | ({"line": frame.line} if frame.line else {})
        for frame in frames
    ]
    head = {
        "$schema": SCHEMA_URL,
        "name": f"{title} {profile.sample_types[active].type}" if profile.sample_types else title,
        "exporter": f"kubectl-rollouts-profile@{__version__}",
        "activeProfileIndex": active,
        "shared": {"frames": frame_list},
    }
    out.write(dumps(head, separators=(",", ":"), ensure_ascii=False)[:-1].encode())
    out.write(b',"profiles":[')
    # Each distinct stack's frame list is made JSON text (",[3,17,5]") once, by array operations over all stacks,
    # and reused by every sample type: no Python list per stack, no json.dumps of millions of ints. The first
    # sample type's samples are written while the text is being made.
    batches = []
    for position, value_type in enumerate(profile.sample_types):
        column = columns[position]
        weights = column[column != 0]
        if unit_kind(value_type.unit) != "none" and to_base_unit(1, value_type.unit) != 1:
            weights = np.array([to_base_unit(value, value_type.unit) for value in weights.tolist()], np.int64)
        described = {
            "type": "sampled",
            "name": f"{title} {value_type.type}",
            "unit": unit_kind(value_type.unit),
            "startValue": 0,
            "endValue": int(weights.sum()),
        }
        if position:
            out.write(b",")
        out.write(dumps(described, separators=(",", ":"), ensure_ascii=False)[:-1].encode())
        out.write(b',"samples":[')
        samples = _NonzeroSamples(out, column)
        if position == 0:
            for batch in _stack_texts(table):
                samples.write(*batch)
                batches.append(batch)
        else:
            for batch in batches:
                samples.write(*batch)
        out.write(b'],"weights":')
        out.write(_number_list(weights))
        out.write(b"}")
    out.write(b"]}")


def _number_list(numbers: np.ndarray) -> bytes:
    """A JSON array of ints, made from the texts of the distinct numbers (weights repeat a lot)."""
    if not len(numbers):
        return b"[]"
    distinct, tokens = np.unique(numbers, return_inverse=True)
    texts = TextTable([b",%d" % number for number in distinct.tolist()])
    joined, _ = texts.join(tokens.ravel(), np.zeros(1, np.int64))  # the first number has no comma
    return b"[" + joined.tobytes() + b"]"


def _stack_texts(table: StackTable) -> Iterator[tuple[bytes, np.ndarray, np.ndarray]]:
    """Per batch of stacks (in table order): their arrays back to back, each led by a comma (",[3,17],[5],[]"),
    and where each stack's text begins and ends."""
    frames = len(table.frames)
    opening, closing = frames, frames + 1
    texts = TextTable([b",%d" % position for position in range(frames)] + [b",[", b"]"])
    for frame_ids, counts in table.frame_runs(range(len(table))):
        stacks = np.arange(len(counts))
        tokens = np.empty(len(frame_ids) + 2 * len(counts), np.int64)
        ends = np.cumsum(counts + 2)  # one past each stack's closing bracket
        begins = ends - counts - 2
        tokens[begins] = opening
        tokens[ends - 1] = closing
        tokens[np.arange(len(frame_ids)) + 2 * np.repeat(stacks, counts) + 1] = frame_ids
        text, starts = texts.join(tokens, (begins + 1)[counts > 0])  # the first frame's comma
        yield text.tobytes(), starts[begins], starts[ends]


class _NonzeroSamples:
    """Writes the arrays of the stacks whose weight in ``column`` is not zero, comma-separated, a batch at a
    time: runs of consecutive ones as slices of their batch's text, one write per batch."""

    def __init__(self, out: BinaryIO, column: np.ndarray) -> None:
        self._out = out
        self._column = column
        self._done = 0  # stacks of the column seen so far
        self._first = True  # the first array written has no comma

    def write(self, text: bytes, begins: np.ndarray, ends: np.ndarray) -> None:
        view = memoryview(text)
        nonzero = self._column[self._done : self._done + len(begins)] != 0
        self._done += len(begins)
        edges = np.flatnonzero(np.diff(nonzero, prepend=False, append=False))  # run starts and ends, alternating
        runs = [view[start:end] for start, end in zip(begins[edges[0::2]].tolist(), ends[edges[1::2] - 1].tolist(),
                                                      strict=True)]  # fmt: skip
        if runs and self._first:
            runs[0] = runs[0][1:]
            self._first = False
        self._out.write(b"".join(runs))
