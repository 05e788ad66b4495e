"""Renderers: Profile -> bytes in the formats people read (speedscope JSON, a self-contained flame graph page,
a pprof-like top table, folded stacks), written into a binary file object or returned whole."""

from __future__ import annotations

import io
from typing import TYPE_CHECKING, BinaryIO

from kubectl_rollouts_profile.errors import UsageError

if TYPE_CHECKING:
    from kubectl_rollouts_profile.pprof.model import Profile

FORMATS = ("speedscope", "html", "top", "folded")
EXTENSIONS = {
    "speedscope": ".speedscope.json",
    "html": ".html",
    "top": ".top.txt",
    "folded": ".folded.txt",
}


def render_to(
    profile: Profile,
    fmt: str,
    out: BinaryIO,
    *,
    title: str,
    sample_index: str | None = None,
    nodes: int | None = None,
) -> None:
    """Write ``profile`` as ``fmt`` (one of FORMATS) into ``out``. ``sample_index`` picks the sample type for top
    and folded and the initially shown one for speedscope and html; ``nodes`` limits the rows of top. speedscope
    is written piece by piece (its document can be hundreds of MB); the others are small and written whole."""
    if fmt == "top":
        from kubectl_rollouts_profile.export.top import render_top

        out.write(render_top(profile, title=title, sample_index=sample_index, nodes=nodes).encode())
    elif fmt == "folded":
        from kubectl_rollouts_profile.export.folded import render_folded

        out.write(render_folded(profile, sample_index=sample_index).encode())
    elif fmt == "speedscope":
        from kubectl_rollouts_profile.export.speedscope import write_speedscope

        write_speedscope(profile, out, title=title, sample_index=sample_index)
    elif fmt == "html":
        from kubectl_rollouts_profile.export.flamegraph import render_flamegraph

        out.write(render_flamegraph(profile, title=title, sample_index=sample_index))
    else:
        raise UsageError(f"unknown format {fmt!r}", "choose one of: " + ", ".join(FORMATS))


def render(
    profile: Profile,
    fmt: str,
    *,
    title: str,
    sample_index: str | None = None,
    nodes: int | None = None,
) -> bytes:
    """``render_to`` into memory: the whole export as bytes."""
    buffer = io.BytesIO()
    render_to(profile, fmt, buffer, title=title, sample_index=sample_index, nodes=nodes)
    return buffer.getvalue()
