"""Numbered byte strings (frame names, frame numbers) joined into lines in bulk, by array operations.

A renderer's text is mostly the same few thousand strings repeated millions of times in sample order. Building it
with Python string joins costs a Python object per repetition; here every string is cut once into fixed-width rows,
padded with 0xff (a byte UTF-8 never uses), and a line of strings is a gather of rows followed by one compression
that drops the padding.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

_WIDTH = 16  # bytes per row: most names take 2-4 rows, numbers one
_PAD = b"\xff"


class TextTable:
    """``texts[i]`` for token ``i``, each made to start with the lines' separator (or nothing)."""

    def __init__(self, texts: Sequence[bytes]) -> None:
        lengths = np.fromiter(map(len, texts), np.int64, len(texts))
        offsets = np.cumsum(lengths) - lengths
        rows_per_text = -(-lengths // _WIDTH)
        self._lengths = lengths
        self._rows = rows_per_text
        self._first_row = np.cumsum(rows_per_text) - rows_per_text
        owner = np.repeat(np.arange(len(texts)), rows_per_text)
        within = np.arange(len(owner)) - self._first_row[owner]
        joined = b"".join(texts)
        if _PAD in joined:
            raise ValueError("texts must be UTF-8: they hold a 0xff byte")
        blob = np.frombuffer(joined + _PAD * _WIDTH, np.uint8)
        windows = np.lib.stride_tricks.sliding_window_view(blob, _WIDTH)
        rows = windows[offsets[owner] + within * _WIDTH]  # a copy: fancy indexing
        rows[np.arange(_WIDTH) >= (lengths[owner] - within * _WIDTH)[:, None]] = _PAD[0]
        self._bytes = rows.view(np.dtype((np.void, _WIDTH))).ravel()

    def lines(self, tokens: np.ndarray, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Lines of ``counts[i]`` consecutive tokens each: their texts back to back without the first byte of each
        line (the separator leading its first text), and the lines' bounds into them."""
        rows = self._rows[tokens]
        row_ends = np.cumsum(rows)
        picked = self._first_row[tokens]
        if len(rows) and rows.max() > 1:
            picked = np.repeat(picked - (row_ends - rows), rows) + np.arange(int(row_ends[-1]))
        data = self._bytes[picked].view(np.uint8)
        token_ends = np.cumsum(counts)
        nonempty = counts > 0
        first_tokens = (token_ends - counts)[nonempty]
        data[(row_ends - rows)[first_tokens] * _WIDTH] = _PAD[0]
        text_ends = np.zeros(len(tokens) + 1, np.int64)
        np.cumsum(self._lengths[tokens], out=text_ends[1:])
        bounds = text_ends[np.concatenate(([0], token_ends))] - np.concatenate(([0], np.cumsum(nonempty)))
        return data[data != _PAD[0]], bounds
