"""A self-contained flame graph page: inline script, style and data, no network. Frames under a threshold share
of the total are merged into their parents (and the page says how much), so any profile yields a bounded page."""

from __future__ import annotations

import html
import json
from dataclasses import dataclass
from itertools import chain

from kubectl_rollouts_profile.pprof.model import Profile
from kubectl_rollouts_profile.pprof.stacks import StackTable, stack_table

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
    """Merge the distinct stacks into a tree in one pass over them in sorted order: a node is complete when the
    sorted stacks leave its prefix, and is kept only if it reaches ``threshold`` of some sample type's total."""
    types = len(table.sample_indexes)
    magnitude = [0] * types
    for values in table.values:
        for position, value in enumerate(values):
            magnitude[position] += abs(value)
    limits = [threshold * total if total else float("inf") for total in magnitude]
    positions = range(types)
    root = _Node(-1, types)
    path = [root]
    previous: tuple[int, ...] = ()
    merged_nodes = 0
    merged_value = [0] * types

    order = sorted(range(len(table.stacks)), key=table.stacks.__getitem__)
    for stack_position in chain(order, (None,)):
        # The final empty stack (None) closes every node still open.
        stack = () if stack_position is None else table.stacks[stack_position]
        common = 0
        shortest = min(len(previous), len(stack))
        while common < shortest and previous[common] == stack[common]:
            common += 1
        # Close the nodes the sorted order has left: their totals are final now.
        while len(path) > common + 1:
            node = path.pop()
            parent = path[-1]
            grow, shrink = node.grow, node.shrink
            parent_grow, parent_shrink = parent.grow, parent.shrink
            keep = False
            for p in positions:
                parent_grow[p] += grow[p]
                parent_shrink[p] += shrink[p]
                if grow[p] - shrink[p] >= limits[p]:
                    keep = True
            if keep:
                parent.children.append(node)
            else:
                merged_nodes += 1 + (_count(node) if node.children else 0)
                for p in positions:
                    merged_value[p] += grow[p] - shrink[p]
        if stack_position is None:
            break
        for frame in stack[common:]:
            path.append(_Node(frame, types))
        leaf = path[-1]
        for p, value in enumerate(table.values[stack_position]):
            if value >= 0:
                leaf.grow[p] += value
            else:
                leaf.shrink[p] += value
        previous = stack
    return FlameTree(root, merged_nodes, tuple(merged_value))


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
    diff = any(value < 0 for values in profile.sample_values for value in values)
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
    # "</" never appears inside the inline script, whatever the function names hold.
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False).replace("</", "<\\/")


def render_flamegraph(
    profile: Profile, *, title: str, sample_index: str | int | None = None, threshold: float = DEFAULT_THRESHOLD
) -> bytes:
    from kubectl_rollouts_profile.export.flamegraph_page import PAGE

    active = profile.sample_index(sample_index) if profile.sample_types else 0
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
