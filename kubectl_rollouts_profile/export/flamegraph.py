"""A self-contained flame graph page: inline script, style and data, no network. Frames under a threshold share
of the total are merged into their parents (and the page says how much), so any profile yields a bounded page."""

from __future__ import annotations

import html
from dataclasses import dataclass
from typing import BinaryIO

import numpy as np

from kubectl_rollouts_profile.export.base import Renderer, require_samples
from kubectl_rollouts_profile.export.flamegraph_page import PAGE
from kubectl_rollouts_profile.pprof.model import Profile
from kubectl_rollouts_profile.pprof.stacks import StackTable, stack_table
from kubectl_rollouts_profile.safe import display_name, script_json

DEFAULT_THRESHOLD = 0.001  # 0.1% of the total of any sample type
MAX_DATA_BYTES = 4_500_000  # the page stays under 5 MB with its script and style


class _Node:
    """A tree node; ``grow`` and ``shrink`` hold, per sample type, the positive and negative values below it
    (``shrink`` stays zero for a plain profile)."""

    __slots__ = ("frame", "grow", "shrink", "children")

    def __init__(self, frame: int, types: int) -> None:
        self.frame = frame
        self.grow = [0] * types
        self.shrink = [0] * types
        self.children: list[_Node] = []


@dataclass(frozen=True)
class FlameTree:
    root: _Node
    merged_nodes: int
    merged_value: tuple[int, ...]  # per sample type, magnitude moved into parents


def build_tree(table: StackTable, threshold: float = DEFAULT_THRESHOLD) -> FlameTree:
    """The call tree of the stacks, keeping only nodes that reach ``threshold`` of some sample type's total.
    With the stacks sorted, the stacks below any node are one contiguous run, so a node's value is a difference of
    running totals and its children are runs found by binary search: the work follows the kept nodes, never the
    (possibly millions of) merged ones, which are only counted."""
    types = len(table.sample_indexes)
    stacks = table.sorted()
    columns = np.array(stacks.columns, dtype=np.int64).reshape(types, len(stacks))
    # Running totals per sample type (one row each, a leading zero column): a run's value is one subtraction.
    magnitude = _prefix_sums(np.abs(columns))
    if (columns < 0).any():
        grow, shrink = _prefix_sums(np.maximum(columns, 0)), _prefix_sums(np.minimum(columns, 0))
    else:
        grow, shrink = magnitude, np.zeros_like(magnitude)
    del columns
    totals = magnitude[:, -1]
    limits = np.where(totals > 0, threshold * totals, np.inf)
    root = _Node(-1, types)
    root.grow = grow[:, -1].tolist()
    root.shrink = shrink[:, -1].tolist()
    kept_nodes = 0
    merged_value = np.zeros(types, np.int64)
    pending = [(root, 0, len(stacks), 0)]  # node, its run of sorted stacks, its depth in frames
    while pending:
        node, low, high, depth = pending.pop()
        for frame, start, end in stacks.runs(low, high, depth):
            weights = magnitude[:, end] - magnitude[:, start]
            if (weights >= limits).any():
                child = _Node(frame, types)
                child.grow = (grow[:, end] - grow[:, start]).tolist()
                child.shrink = (shrink[:, end] - shrink[:, start]).tolist()
                node.children.append(child)
                kept_nodes += 1
                pending.append((child, start, end, depth + 1))
            else:
                merged_value += weights
    return FlameTree(root, stacks.node_count() - kept_nodes, tuple(merged_value.tolist()))


def _prefix_sums(rows: np.ndarray) -> np.ndarray:
    """Running totals along each row, with a leading zero column."""
    sums = np.zeros((rows.shape[0], rows.shape[1] + 1), np.int64)
    np.cumsum(rows, axis=1, out=sums[:, 1:])
    return sums


def prune(tree: FlameTree, threshold: float) -> FlameTree:
    """The same tree with a coarser threshold: cheaper than building it again from the stacks."""
    root = tree.root
    types = len(root.grow)
    limits = [threshold * (root.grow[p] - root.shrink[p]) or float("inf") for p in range(types)]
    merged_nodes = tree.merged_nodes
    merged_value = list(tree.merged_value)
    pending = [root]
    while pending:
        node = pending.pop()
        kept = []
        for child in node.children:
            if any(child.grow[p] - child.shrink[p] >= limits[p] for p in range(types)):
                kept.append(child)
                pending.append(child)
            else:
                merged_nodes += 1 + _count(child)
                for p in range(types):
                    merged_value[p] += child.grow[p] - child.shrink[p]
        node.children = kept
    return FlameTree(root, merged_nodes, tuple(merged_value))


def _count(node: _Node) -> int:
    return sum(1 + _count(child) for child in node.children)


def _page_data(profile: Profile, table: StackTable, tree: FlameTree, threshold: float, active: int, title: str) -> str:
    frame_ids: dict[int, int] = {}
    names: list[str] = []
    nodes: list[list[int]] = []
    # A diff holds the base's samples negated; it is drawn as growth and shrink even where all of it grew.
    diff = profile.has_negative_values()
    stack = [(tree.root, -1)]
    while stack:
        node, parent = stack.pop()
        if node.frame >= 0:
            frame = frame_ids.get(node.frame)
            if frame is None:
                frame = frame_ids[node.frame] = len(names)
                names.append(table.frames[node.frame].name)
        else:
            frame = -1
        position = len(nodes)
        nodes.append([frame, parent, *node.grow, *(node.shrink if diff else ())])
        # Children are pushed in reverse name order so they come out alphabetically, left to right.
        for child in sorted(node.children, key=lambda c: table.frames[c.frame].name, reverse=True):
            stack.append((child, position))
    data = {
        "title": title,
        "types": [{"name": vt.type, "unit": vt.unit} for vt in profile.sample_types],
        "active": active,
        "diff": diff,
        "names": names,
        "nodes": nodes,
        "threshold": threshold,
        "mergedNodes": tree.merged_nodes,
        "mergedValue": list(tree.merged_value),
    }
    # No "<" ever appears inside the inline script ("</script>", "<!--<script>"), whatever the names hold.
    return script_json(data)


class FlameGraphRenderer(Renderer):
    name = "html"
    extension = ".html"

    def render_to(self, profile: Profile, out: BinaryIO, *, title: str, sample_index: str | None = None,
                  nodes: int | None = None) -> None:  # fmt: skip
        out.write(render_flamegraph(profile, title=title, sample_index=sample_index))


def render_flamegraph(
    profile: Profile, *, title: str, sample_index: str | int | None = None, threshold: float = DEFAULT_THRESHOLD
) -> bytes:
    require_samples(profile)
    title = display_name(title)
    active = profile.sample_index(sample_index)
    table = stack_table(profile)
    tree = build_tree(table, threshold)
    data = _page_data(profile, table, tree, threshold, active, title)
    # Bounded size: a profile too wide even at this threshold is merged more coarsely.
    while len(data.encode()) > MAX_DATA_BYTES and threshold < 0.5:
        threshold *= 2
        tree = prune(tree, threshold)
        data = _page_data(profile, table, tree, threshold, active, title)
    page = PAGE.replace("{{TITLE}}", html.escape(title)).replace("{{DATA}}", data)
    return page.encode()
