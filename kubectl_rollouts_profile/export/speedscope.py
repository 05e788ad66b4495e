"""speedscope's file format (https://www.speedscope.app/file-format-schema.json): shared frames and one
``sampled`` profile per sample type, the default type active."""

from __future__ import annotations

import json
from array import array
from collections.abc import Sequence
from itertools import accumulate, compress
from operator import not_
from typing import BinaryIO

import numpy as np

from kubectl_rollouts_profile import __version__
from kubectl_rollouts_profile.errors import ProfileError
from kubectl_rollouts_profile.export.base import Renderer, require_samples
from kubectl_rollouts_profile.export.texts import TextTable
from kubectl_rollouts_profile.export.units import to_base_unit, unit_kind
from kubectl_rollouts_profile.pprof.model import Profile
from kubectl_rollouts_profile.pprof.stacks import stack_table

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
    table = stack_table(profile)
    frames, columns = table.frames, table.columns
    # Each distinct stack's frame list is written once as JSON text ("[3,17,5]") by array operations over all
    # stacks, then reused by every sample type: no Python list per stack, no json.dumps of millions of ints.
    numbers = TextTable([b",%d" % position for position in range(len(frames))])
    order = range(len(table))
    pieces: list[bytes] = []
    lengths: list[int] = []
    for frame_ids, counts in table.frame_runs(order):
        text, bounds = numbers.lines(frame_ids, counts)
        pieces.append(text.tobytes())
        lengths += np.diff(bounds).tolist()
    # Every sample type lists the same stacks (less the zero-weight ones), so the samples' text is built once and
    # written per type: whole, or in runs between the zero weights.
    samples_text = _bracketed(pieces, lengths)
    del pieces
    starts = array("q", accumulate(lengths, initial=0))
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
    out.write(json.dumps(head, separators=(",", ":"), ensure_ascii=False)[:-1].encode())
    out.write(b',"profiles":[')
    for position, value_type in enumerate(profile.sample_types):
        column = columns[position].tolist()
        weights = list(compress(column, column))
        if unit_kind(value_type.unit) != "none" and to_base_unit(1, value_type.unit) != 1:
            weights = [to_base_unit(value, value_type.unit) for value in weights]
        described = {
            "type": "sampled",
            "name": f"{title} {value_type.type}",
            "unit": unit_kind(value_type.unit),
            "startValue": 0,
            "endValue": sum(weights),
        }
        if position:
            out.write(b",")
        out.write(json.dumps(described, separators=(",", ":"), ensure_ascii=False)[:-1].encode())
        out.write(b',"samples":[')
        _write_nonzero(out, samples_text, starts, column)
        out.write(b'],"weights":')
        out.write(json.dumps(weights, separators=(",", ":")).encode("ascii"))
        out.write(b"}")
    out.write(b"]}")


def _bracketed(pieces: list[bytes], lengths: list[int]) -> bytes:
    """The stacks' texts (``pieces`` back to back, ``lengths`` each) as JSON arrays joined by commas
    ("[3,17],[5]"). Stack i's array starts at byte starts[i] + 3 * i (``starts``: the running sums of the
    lengths)."""
    if not lengths:
        return b""
    body = memoryview(b"".join(pieces))
    edges = list(accumulate(lengths, initial=0))
    return b"".join((b"[", b"],[".join(map(body.__getitem__, map(slice, edges, edges[1:]))), b"]"))


def _write_nonzero(out: BinaryIO, joined: bytes, starts: Sequence[int], column: Sequence[int]) -> None:
    """Write the arrays of ``joined`` whose weight in ``column`` is not zero, as slices of it."""
    view = memoryview(joined)
    count = len(column)
    zeros = list(compress(range(count), map(not_, column)))
    if not zeros:
        out.write(view)
        return
    first = True
    run_start = 0
    for end in (*zeros, count):
        if end > run_start:
            if not first:
                out.write(b",")
            # Arrays run_start..end-1, without the comma after the last.
            out.write(view[starts[run_start] + 3 * run_start : starts[end] + 3 * end - 1])
            first = False
        run_start = end + 1
