"""Numbered byte strings (frame names, frame numbers) joined into lines in bulk, by array operations.

A renderer's text is mostly the same few thousand strings repeated millions of times in sample order. Building it
with Python string joins costs a Python object per repetition. Here the repetitions are grouped by length, and
each group is one gather and one scatter of fixed-size items (every text of length L is an L-byte item of the
strings' buffer, and so is its place in the result): exact bytes, no padding to remove, no Python work per text.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def _items(buffer: np.ndarray, size: int) -> np.ndarray:
    """Every ``size``-byte window of ``buffer`` as one item: item i is buffer[i:i + size]."""
    return np.ndarray(
        shape=(len(buffer) - size + 1,), dtype=np.dtype((np.void, size)), buffer=buffer, strides=(1,)
    )


class TextTable:
    """``texts[i]`` for token ``i``; a text that may start a line begins with the separator ``join`` drops there."""

    def __init__(self, texts: Sequence[bytes]) -> None:
        self._lengths = np.fromiter(map(len, texts), np.int64, len(texts))
        self._offsets = np.cumsum(self._lengths) - self._lengths
        self._strings = np.frombuffer(b"".join(texts), np.uint8)
        longest = int(self._lengths.max(initial=0))
        self._length_type = np.uint8 if longest < 1 << 8 else np.uint16 if longest < 1 << 16 else np.int64

    def join(self, tokens: np.ndarray, drop_first: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The texts of ``tokens`` back to back, without the first byte of the tokens at positions
        ``drop_first`` (the separator leading the first text of a line), and where each token's text starts in
        the result (plus one entry: the end)."""
        lengths = self._lengths[tokens]
        sources = self._offsets[tokens]
        lengths[drop_first] -= 1
        sources[drop_first] += 1
        starts = np.zeros(len(tokens) + 1, np.int64)
        np.cumsum(lengths, out=starts[1:])
        joined = np.empty(int(starts[-1]), np.uint8)
        # Tokens grouped by length: a stable sort of small ints (a radix sort in numpy); each length's group is
        # then a run of that order, its bounds the running sums of a count per length.
        small_lengths = lengths.astype(self._length_type)
        by_length = np.argsort(small_lengths, kind="stable")
        edges = np.zeros(int(self._lengths.max(initial=0)) + 2, np.int64)
        np.cumsum(np.bincount(small_lengths, minlength=len(edges) - 1), out=edges[1:])
        for size in np.flatnonzero(np.diff(edges)).tolist():
            if size:
                group = by_length[edges[size] : edges[size + 1]]
                _items(joined, size)[starts[group]] = _items(self._strings, size)[sources[group]]
        return joined, starts
