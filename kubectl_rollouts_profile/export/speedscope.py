"""speedscope's file format (https://www.speedscope.app/file-format-schema.json): shared frames and one
``sampled`` profile per sample type, the default type active."""

from __future__ import annotations

import json
from array import array
from collections.abc import Sequence
from itertools import accumulate, compress
from operator import not_
from typing import BinaryIO

from kubectl_rollouts_profile import __version__
from kubectl_rollouts_profile.errors import ProfileError
from kubectl_rollouts_profile.export.base import Renderer, require_samples
from kubectl_rollouts_profile.export.units import to_base_unit, unit_kind
from kubectl_rollouts_profile.pprof.model import Profile
from kubectl_rollouts_profile.pprof.stacks import expand_stacks, frame_index, location_stacks, merge_equal

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
    types = tuple(range(len(profile.sample_types)))
    stacks = location_stacks(profile, types)
    frames, location_frames = frame_index(profile)
    # Each distinct stack's frame list is written once as JSON text ("3,17,5") by one join over all stacks, then
    # reused by every sample type: no Python list per stack, no json.dumps of millions of ints.
    texts = {location_id: ",".join(map(str, ids)) for location_id, ids in location_frames.items()}
    pieces = expand_stacks(stacks, texts, separator=",")
    del texts
    # Stacks of different locations can be the same frames (another line of the same function): merge them.
    pieces, columns = merge_equal(pieces, list(stacks.columns))
    del stacks
    # Every sample type lists the same stacks (less the zero-weight ones), so the samples' text is built once and
    # written per type: whole, or in runs between the zero weights.
    starts = array("q", accumulate(map(len, pieces), initial=0))
    samples_text = _joined(pieces)
    del pieces
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
        column = columns[position]
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


def _joined(pieces: list[str], batch: int = 65_536) -> bytearray:
    """The pieces as JSON arrays joined by commas ("[3,17],[5]"), ASCII bytes built in batches so no second
    whole copy exists as text. Piece i's array starts at byte starts[i] + 3 * i (``starts``: the running sums of
    the pieces' lengths)."""
    joined = bytearray()
    for start in range(0, len(pieces), batch):
        joined += b"],[" if start else b"["
        joined += "],[".join(pieces[start : start + batch]).encode("ascii")
    if pieces:
        joined += b"]"
    return joined


def _write_nonzero(out: BinaryIO, joined: bytearray, starts: Sequence[int], column: Sequence[int]) -> None:
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
