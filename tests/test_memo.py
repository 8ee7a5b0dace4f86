import numpy as np

from omnisearch.models.memo import ArrayMemo, array_key


def test_memo_computes_once_per_content_and_evicts_lru():
    memo = ArrayMemo(maxsize=2)
    calls: list[int] = []

    def fn(a):
        calls.append(1)
        return float(a.sum())

    a, b, c = np.ones(3), np.zeros(3), np.arange(3.0)
    assert memo.get(a, fn) == 3.0 and memo.get(a.copy(), fn) == 3.0 and len(calls) == 1
    memo.get(b, fn)
    memo.get(a, fn)  # a becomes most recent
    memo.get(c, fn)  # evicts b
    assert len(calls) == 3
    memo.get(b, fn)
    assert len(calls) == 4


def test_key_depends_on_dtype_shape_and_bytes():
    x = np.zeros(4, np.float32)
    assert array_key(x) != array_key(x.astype(np.float64))
    assert array_key(x) != array_key(x.reshape(2, 2))
    y = x.copy()
    y[0] = 1
    assert array_key(x) != array_key(y)
    assert array_key(np.asfortranarray(np.eye(3))) == array_key(np.eye(3))
