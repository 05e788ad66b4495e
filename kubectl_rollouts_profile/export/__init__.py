"""Renderers: Profile -> bytes in the formats people read (speedscope JSON, a self-contained flame graph page,
a pprof-like top table, folded stacks), one object per format in ``RENDERERS``. Each renderer says what it is
(name, file extension, whether it streams, whether it can show the negative values of a diff), so callers pick
formats by capability instead of by name."""

from __future__ import annotations

import io

from kubectl_rollouts_profile.errors import UsageError
from kubectl_rollouts_profile.export.base import Renderer, require_samples
from kubectl_rollouts_profile.export.flamegraph import FlameGraphRenderer
from kubectl_rollouts_profile.export.folded import FoldedRenderer
from kubectl_rollouts_profile.export.speedscope import SpeedscopeRenderer
from kubectl_rollouts_profile.export.top import TopRenderer
from kubectl_rollouts_profile.pprof.model import Profile

__all__ = ["RENDERERS", "Renderer", "get_renderer", "render", "require_samples"]

RENDERERS: dict[str, Renderer] = {
    renderer.name: renderer
    for renderer in (SpeedscopeRenderer(), FlameGraphRenderer(), TopRenderer(), FoldedRenderer())
}


def get_renderer(name: str) -> Renderer:
    """The renderer of a format named on the command line; an unknown name is a usage error."""
    renderer = RENDERERS.get(name)
    if renderer is None:
        raise UsageError(f"unknown format {name!r}", "choose one of: " + ", ".join(RENDERERS))
    return renderer


def render(
    profile: Profile, name: str, *, title: str, sample_index: str | None = None, nodes: int | None = None
) -> bytes:
    """The whole export in memory (for small outputs and tests; files are written with ``render_to``)."""
    buffer = io.BytesIO()
    get_renderer(name).render_to(profile, buffer, title=title, sample_index=sample_index, nodes=nodes)
    return buffer.getvalue()
