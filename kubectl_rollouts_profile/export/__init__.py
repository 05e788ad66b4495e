"""Renderers: Profile -> bytes in the formats people read (speedscope JSON, a self-contained flame graph page,
a pprof-like top table, folded stacks)."""

from __future__ import annotations

from typing import TYPE_CHECKING

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


def render(
    profile: Profile,
    fmt: str,
    *,
    title: str,
    sample_index: str | None = None,
    nodes: int | None = None,
) -> bytes:
    """Render ``profile`` as ``fmt`` (one of FORMATS). ``sample_index`` picks the sample type for top and folded
    and the initially shown one for speedscope and html; ``nodes`` limits the rows of top."""
    if fmt == "top":
        from kubectl_rollouts_profile.export.top import render_top

        return render_top(profile, title=title, sample_index=sample_index, nodes=nodes).encode()
    if fmt == "folded":
        from kubectl_rollouts_profile.export.folded import render_folded

        return render_folded(profile, sample_index=sample_index).encode()
    if fmt == "speedscope":
        from kubectl_rollouts_profile.export.speedscope import render_speedscope

        return render_speedscope(profile, title=title, sample_index=sample_index)
    if fmt == "html":
        from kubectl_rollouts_profile.export.flamegraph import render_flamegraph

        return render_flamegraph(profile, title=title, sample_index=sample_index)
    raise UsageError(f"unknown format {fmt!r}", "choose one of: " + ", ".join(FORMATS))
