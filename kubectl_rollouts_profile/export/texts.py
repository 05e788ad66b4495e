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
    """``texts[i]`` for token ``i``; a text that may start a line begins with the separator ``join`` drops there."""

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

    def join(self, tokens: np.ndarray, drop_first: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The texts of ``tokens`` back to back, without the first byte of the tokens at positions
        ``drop_first`` (the separator leading the first text of a line), and where each token's text starts in
        the result (plus one entry: the end)."""
        rows = self._rows[tokens]
        row_ends = np.cumsum(rows)
        picked = self._first_row[tokens]
        if len(rows) and not (rows.min() == rows.max() == 1):  # some text takes no row or several
            picked = np.repeat(picked - (row_ends - rows), rows) + np.arange(int(row_ends[-1]))
        data = self._bytes[picked].view(np.uint8)
        data[(row_ends - rows)[drop_first] * _WIDTH] = _PAD[0]
        lengths = self._lengths[tokens]
        lengths[drop_first] -= 1
        starts = np.zeros(len(tokens) + 1, np.int64)
        np.cumsum(lengths, out=starts[1:])
        return data[data != _PAD[0]], starts
