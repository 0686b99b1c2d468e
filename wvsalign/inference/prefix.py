"""Shared token prefixes: the radix tree of everything the model must read.

Every option of a request needs the log-probability of each of its continuation tokens,
read from the model's output after ``context + continuation[:t]``. The sequences fed to the
model are therefore ``context + continuation[:-1]`` (one per option), with *reads* (which
target token's log-probability is wanted) at their last ``len(continuation)`` positions.

Prompts for one item across countries share a long prefix, and so do the options of one
prompt. :func:`build_tree` puts all fed sequences into a radix tree (sort, then longest
common prefixes of neighbours), so each distinct token path is computed once. Sharing a
node costs a batch entry and a key/value copy per child, which only pays when it saves
enough tokens: a node whose sharing would save fewer than ``min_shared_tokens`` tokens
(``(children - 1) * len(tokens)``) is folded into its children (its tokens recomputed in
each; a node with one child is always folded). :func:`unique_tokens` counts the tokens of
the unfolded tree (each distinct prefix once), the denominator of the FLOP floor.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Sequence

import numpy as np

from .scoring import ScoringRequest


@dataclass(eq=False)
class Node:
    """A run of tokens computed once; ``start`` is the depth (position) of its first token."""

    tokens: list[int]
    start: int
    parent: "Node | None" = None
    children: list["Node"] = field(default_factory=list)
    #: (offset in ``tokens``, flat option index, target token id)
    reads: list[tuple[int, int, int]] = field(default_factory=list)

    @property
    def end(self) -> int:
        return self.start + len(self.tokens)

    def path(self) -> list[int]:
        """All tokens from the root to the end of this node."""
        parts = []
        node: Node | None = self
        while node is not None:
            parts.append(node.tokens)
            node = node.parent
        return [t for part in reversed(parts) for t in part]

    def walk(self) -> Iterable["Node"]:
        """This node and its descendants, depth first."""
        stack = [self]
        while stack:
            node = stack.pop()
            yield node
            stack.extend(reversed(node.children))


def option_offsets(requests: Sequence[ScoringRequest]) -> np.ndarray:
    """Flat index of each request's first option (length ``len(requests) + 1``)."""
    return np.concatenate([[0], np.cumsum([r.n_options for r in requests])]).astype(np.int64)


def fed_sequences(requests: Sequence[ScoringRequest]) -> list[dict[tuple[int, ...], list[tuple[int, int, int]]]]:
    """Per request, its fed sequences -> reads as (depth, flat option index, target token)."""
    offsets = option_offsets(requests)
    out = []
    for r, req in enumerate(requests):
        seqs: dict[tuple[int, ...], list[tuple[int, int, int]]] = {}
        n = len(req.context)
        for j, cont in enumerate(req.continuations):
            reads = seqs.setdefault(req.context + cont[:-1], [])
            reads.extend((n - 1 + t, int(offsets[r] + j), tok) for t, tok in enumerate(cont))
        out.append(seqs)
    return out


def common_prefix_length(a: Sequence[int], b: Sequence[int]) -> int:
    """How many leading tokens ``a`` and ``b`` share."""
    n = min(len(a), len(b))
    i = 0
    while i < n and a[i] == b[i]:
        i += 1
    return i


def _split(node: Node, k: int) -> None:
    """Cut ``node`` after ``k`` of its tokens; the rest becomes its only child."""
    tail = Node(node.tokens[k:], node.start + k, parent=node, children=node.children,
                reads=[(o - k, f, t) for o, f, t in node.reads if o >= k])
    for child in tail.children:
        child.parent = tail
    node.tokens = node.tokens[:k]
    node.reads = [r for r in node.reads if r[0] < k]
    node.children = [tail]


def _radix(seqs: dict[tuple[int, ...], list[tuple[int, int, int]]], root: Node) -> None:
    """Insert sequences (with reads by depth) under ``root`` (whose depth is 0)."""
    stack = [root]
    prev: tuple[int, ...] = ()
    for seq in sorted(seqs):
        l = common_prefix_length(prev, seq)
        while len(stack) > 1 and stack[-1].start >= l:
            stack.pop()
        top = stack[-1]
        if top.end > l:
            _split(top, l - top.start)
        if len(seq) > l:
            child = Node(list(seq[l:]), l, parent=top)
            top.children.append(child)
            stack.append(child)
        for depth, flat, target in seqs[seq]:
            node = next(n for n in reversed(stack) if n.start <= depth < n.end)
            node.reads.append((depth - node.start, flat, target))
        prev = seq


def _fold(root: Node, min_shared_tokens: int) -> None:
    """Fold nodes whose sharing saves fewer than ``min_shared_tokens`` tokens into their children."""
    queue = list(root.children)
    while queue:
        node = queue.pop()
        if node.children and (len(node.children) - 1) * len(node.tokens) < min_shared_tokens:
            parent = node.parent
            k = len(node.tokens)
            for i, child in enumerate(node.children):
                child.tokens = node.tokens + child.tokens
                child.start = node.start
                child.reads = [(o + k, f, t) for o, f, t in child.reads]
                if i == 0:
                    child.reads = node.reads + child.reads
                child.parent = parent
            pos = next(i for i, c in enumerate(parent.children) if c is node)
            parent.children[pos:pos + 1] = node.children
        queue.extend(node.children)


def build_tree(
    requests: Sequence[ScoringRequest], *, share_prefixes: bool = True, min_shared_tokens: int = 16
) -> Node:
    """The radix tree of all fed sequences (shared across requests unless ``share_prefixes`` is off).

    With ``share_prefixes=False`` each request gets its own subtree (its options still share
    the request's context). The root has no tokens.
    """
    root = Node([], 0)
    per_request = fed_sequences(requests)
    if share_prefixes:
        merged: dict[tuple[int, ...], list[tuple[int, int, int]]] = {}
        for seqs in per_request:
            for seq, reads in seqs.items():
                merged.setdefault(seq, []).extend(reads)
        _radix(merged, root)
    else:
        for seqs in per_request:
            sub = Node([], 0)
            _radix(seqs, sub)
            for child in sub.children:
                child.parent = root
                root.children.append(child)
    _fold(root, min_shared_tokens)
    return root


def unique_tokens(requests: Sequence[ScoringRequest]) -> int:
    """Tokens the model must read once every shared prefix is counted once."""
    root = build_tree(requests, share_prefixes=True, min_shared_tokens=0)
    return sum(len(n.tokens) for n in root.walk())
