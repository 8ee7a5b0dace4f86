"""text_minilm: each distinct text is embedded once and batches group texts by length, without changing
any text's vector."""

from __future__ import annotations

import numpy as np
import pytest

from omnisearch.models.text_minilm import MiniLMText


@pytest.fixture(scope="module")
def minilm():
    return MiniLMText()


def test_repeated_blank_and_reordered_texts_get_their_own_vectors(minilm):
    texts = [
        "the budget for the new warehouse in Lisbon",
        "",
        "a dog barks",
        "  a dog barks  ",
        "QUARTERLY REVIEW",
        "   ",
        "the budget for the new warehouse in Lisbon",
        "rain on a tin roof while a long freight train passes slowly in the distance at night",
    ]
    got = minilm.embed(texts, batch_size=2)
    alone = {t.strip(): minilm.embed([t])[0] for t in texts if t.strip()}
    for t, row in zip(texts, got, strict=True):
        if t.strip():
            assert np.allclose(row, alone[t.strip()], atol=1e-5)
            assert abs(float(np.linalg.norm(row)) - 1.0) < 1e-5
        else:
            assert not row.any()
    assert np.array_equal(got[0], got[6]) and np.array_equal(got[2], got[3])
