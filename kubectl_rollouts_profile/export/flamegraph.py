"""A self-contained flame graph page: inline script, style and data, no network. Frames under a threshold share
of the total are merged into their parents (and the page says how much), so any profile yields a bounded page."""

from __future__ import annotations

import html
import json
from dataclasses import dataclass, field

from kubectl_rollouts_profile.pprof.model import Profile
from kubectl_rollouts_profile.pprof.stacks import StackTable, stack_table

DEFAULT_THRESHOLD = 0.001  # 0.1% of the total of any sample type
MAX_DATA_BYTES = 4_500_000  # the page stays under 5 MB with its script and style


@dataclass
class _Node:
    frame: int
    grow: list[int]  # per sample type: sum of positive values below (all of it for a plain profile)
    shrink: list[int]  # per sample type: sum of negative values below (diffs only)
    children: list[_Node] = field(default_factory=list)


@dataclass(frozen=True)
class FlameTree:
    """The merged tree in pre-order: per node (frame, depth, grow per type, shrink per type)."""

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
    limits = [threshold * total for total in magnitude]
    root = _Node(-1, [0] * types, [0] * types)
    path = [root]
    previous: tuple[int, ...] = ()
    merged_nodes = 0
    merged_value = [0] * types

    def close_to(depth: int) -> None:
        nonlocal merged_nodes
        while len(path) > depth + 1:
            node = path.pop()
            parent = path[-1]
            for position in range(types):
                parent.grow[position] += node.grow[position]
                parent.shrink[position] += node.shrink[position]
            if any(node.grow[p] - node.shrink[p] >= limits[p] and limits[p] > 0 for p in range(types)):
                parent.children.append(node)
            else:
                merged_nodes += 1 + _count(node)
                for position in range(types):
                    merged_value[position] += node.grow[position] - node.shrink[position]

    for stack_position in sorted(range(len(table.stacks)), key=table.stacks.__getitem__):
        stack = table.stacks[stack_position]
        common = 0
        shortest = min(len(previous), len(stack))
        while common < shortest and previous[common] == stack[common]:
            common += 1
        close_to(common)
        for frame in stack[common:]:
            path.append(_Node(frame, [0] * types, [0] * types))
        leaf = path[-1]
        for position, value in enumerate(table.values[stack_position]):
            if value >= 0:
                leaf.grow[position] += value
            else:
                leaf.shrink[position] += value
        previous = stack
    close_to(0)
    return FlameTree(root, merged_nodes, tuple(merged_value))


def _count(node: _Node) -> int:
    return sum(1 + _count(child) for child in node.children)


def _page_data(profile: Profile, table: StackTable, tree: FlameTree, threshold: float, active: int, title: str) -> str:
    frame_ids: dict[int, int] = {}
    names: list[str] = []
    nodes: list[list[int]] = []
    diff = any(tree.root.shrink)
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
    while True:
        tree = build_tree(table, threshold)
        data = _page_data(profile, table, tree, threshold, active, title)
        # Bounded size: a profile too wide even at this threshold is merged more coarsely.
        if len(data.encode()) <= MAX_DATA_BYTES or threshold >= 0.5:
            break
        threshold *= 2
    page = PAGE.replace("{{TITLE}}", html.escape(title)).replace("{{DATA}}", data)
    return page.encode()
