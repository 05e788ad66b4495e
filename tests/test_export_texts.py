"""TextTable against a plain join: any texts (empty ones, long ones over many rows, multi-byte UTF-8), any token
stream, any choice of tokens whose first byte is dropped."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from kubectl_rollouts_profile.export.texts import TextTable

texts_strategy = st.lists(st.text(max_size=70).map(str.encode), min_size=1, max_size=40)


@settings(max_examples=80, deadline=None)
@given(texts_strategy, st.data())
def test_join_equals_the_plain_join(texts, data):
    tokens = data.draw(st.lists(st.integers(0, len(texts) - 1), max_size=300))
    droppable = [position for position, token in enumerate(tokens) if texts[token]]
    dropped = sorted(data.draw(st.sets(st.sampled_from(droppable))) if droppable else set())
    pieces = [texts[token][1:] if position in dropped else texts[token] for position, token in enumerate(tokens)]

    joined, starts = TextTable(texts).join(np.array(tokens, dtype=np.int64), np.array(dropped, dtype=np.int64))

    assert joined.tobytes() == b"".join(pieces)
    assert starts.tolist() == [sum(map(len, pieces[:end])) for end in range(len(pieces) + 1)]
