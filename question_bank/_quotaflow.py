"""The fewest questions that meet every draw quota: a minimum flow with lower bounds.

Questions fall into cells ``(topic, difficulty)``; a quota asks for at least ``r`` drawn
questions of one topic, one difficulty, one cell, or any. As a network::

    S --[>= R_t]--> topic t --[R_td .. available_td]--> difficulty d --[>= R_d]--> T

every flow from S to T is a choice of how many questions to take from each cell that meets
the quotas, and its value is how many questions that is. :func:`min_needed` returns the
smallest such value (``None`` when no choice meets the quotas), found the textbook way:
a feasible circulation through super source/sink, then as much flow as possible pushed back
from T to S. Topic rows and difficulty columns are two laminar families, so the integer
answer equals the real one and the check is exact. :func:`solve` also says which cells
some smallest choice takes a question from: a draw with no slot to spare keeps only those.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Hashable, Mapping
from typing import TypeVar

__all__ = ["min_needed", "solve"]

T = TypeVar("T", bound=Hashable)
"""A topic (any hashable)."""
D = TypeVar("D", bound=Hashable)
"""A difficulty (any hashable)."""


class _Network:
    def __init__(self, size: int) -> None:
        self.adjacent: list[list[int]] = [[] for _ in range(size)]
        self.head: list[int] = []
        self.capacity: list[int] = []

    def edge(self, u: int, v: int, capacity: int) -> int:
        self.adjacent[u].append(len(self.head))
        self.head.append(v)
        self.capacity.append(capacity)
        self.adjacent[v].append(len(self.head))
        self.head.append(u)
        self.capacity.append(0)
        return len(self.head) - 2

    def reachable(self, start: int) -> set[int]:
        """Nodes reachable from *start* along edges with capacity left."""
        seen = {start}
        stack = [start]
        while stack:
            u = stack.pop()
            for e in self.adjacent[u]:
                v = self.head[e]
                if self.capacity[e] > 0 and v not in seen:
                    seen.add(v)
                    stack.append(v)
        return seen

    def max_flow(self, source: int, sink: int) -> int:
        """Edmonds-Karp: shortest augmenting paths (the graph has a few dozen nodes)."""
        total = 0
        while True:
            came_by = [-1] * len(self.adjacent)
            came_by[source] = -2
            queue = deque([source])
            while queue and came_by[sink] == -1:
                u = queue.popleft()
                for e in self.adjacent[u]:
                    v = self.head[e]
                    if self.capacity[e] > 0 and came_by[v] == -1:
                        came_by[v] = e
                        queue.append(v)
            if came_by[sink] == -1:
                return total
            push = -1
            v = sink
            while v != source:
                e = came_by[v]
                push = self.capacity[e] if push < 0 else min(push, self.capacity[e])
                v = self.head[e ^ 1]
            v = sink
            while v != source:
                e = came_by[v]
                self.capacity[e] -= push
                self.capacity[e ^ 1] += push
                v = self.head[e ^ 1]
            total += push


def min_needed(
    available: Mapping[tuple[T, D], int],
    by_topic: Mapping[T, int],
    by_difficulty: Mapping[D, int],
    by_cell: Mapping[tuple[T, D], int],
    anything: int = 0,
) -> int | None:
    """Fewest questions meeting every lower bound, or ``None`` if none can.

    *available*: questions per cell; *by_topic*, *by_difficulty*, *by_cell*: the lower
    bounds (the largest quota of each); *anything*: a lower bound on the total.
    """
    if anything > sum(available.values()):
        return None
    solved = solve(available, by_topic, by_difficulty, by_cell)
    return None if solved is None else max(solved[0], anything)


def solve(
    available: Mapping[tuple[T, D], int],
    by_topic: Mapping[T, int],
    by_difficulty: Mapping[D, int],
    by_cell: Mapping[tuple[T, D], int],
) -> tuple[int, frozenset[tuple[T, D]]] | None:
    """The fewest questions meeting the bounds, and the cells some smallest choice uses.

    A cell is used by some smallest choice when a minimum flow sends some through it, or
    when the flow could be rerouted through it at no cost: its edge ``t -> d`` closes a
    cycle with a residual path ``d -> ... -> t``.
    """
    for cell, need in by_cell.items():
        if need > available.get(cell, 0):
            return None
    topics = sorted({t for t, _ in available} | set(by_topic), key=repr)
    difficulties = sorted({d for _, d in available} | set(by_difficulty), key=repr)
    t_node = {t: 4 + i for i, t in enumerate(topics)}
    d_node = {d: 4 + len(topics) + i for i, d in enumerate(difficulties)}
    source, sink, super_source, super_sink = 0, 1, 2, 3
    net = _Network(4 + len(topics) + len(difficulties))
    infinite = sum(available.values()) + 1
    excess = [0] * len(net.adjacent)

    def bounded(u: int, v: int, low: int, high: int) -> int:
        excess[v] += low
        excess[u] -= low
        return net.edge(u, v, high - low)

    for t in topics:
        bounded(source, t_node[t], by_topic.get(t, 0), infinite)
    cell_edges = {
        (t, d): bounded(t_node[t], d_node[d], by_cell.get((t, d), 0), count)
        for (t, d), count in available.items()
    }
    for d in difficulties:
        bounded(d_node[d], sink, by_difficulty.get(d, 0), infinite)
    back = net.edge(sink, source, infinite)
    demand = 0
    helpers: list[int] = []
    for node, amount in enumerate(excess):
        if amount > 0:
            helpers.append(net.edge(super_source, node, amount))
            demand += amount
        elif amount < 0:
            helpers.append(net.edge(node, super_sink, -amount))
    if net.max_flow(super_source, super_sink) != demand:
        return None
    flow = net.capacity[back ^ 1]  # what went through T -> S: the feasible flow's value
    for e in [back, *helpers]:
        net.capacity[e] = net.capacity[e ^ 1] = 0
    least = flow - net.max_flow(sink, source)
    reach = {d: net.reachable(d_node[d]) for d in difficulties}
    used = frozenset(
        (t, d)
        for (t, d), e in cell_edges.items()
        if available[(t, d)] > 0
        and (by_cell.get((t, d), 0) > 0 or net.capacity[e ^ 1] > 0 or t_node[t] in reach[d])
    )
    return least, used
