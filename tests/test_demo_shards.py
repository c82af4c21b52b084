"""Sharding training windows over emulated boards, also with more boards than windows."""
from __future__ import annotations

import numpy as np
import pytest

from tinyfl.demo import split_shards


def test_fewer_boards_than_windows_get_disjoint_shards_covering_everything():
    parts = split_shards(np.arange(40), 4, seed=3)
    assert sorted(np.concatenate(parts).tolist()) == list(range(40))
    assert [len(p) for p in parts] == [10, 10, 10, 10]


def test_more_boards_than_windows_each_get_windows_never_twice_the_same():
    parts = split_shards(np.arange(40), 64, seed=0)
    assert len(parts) == 64 and all(len(p) >= 1 for p in parts)
    assert all(len(set(p.tolist())) == len(p) for p in parts)
    assert set(np.concatenate(parts).tolist()) == set(range(40))


def test_no_windows_is_a_clear_error():
    with pytest.raises(ValueError, match="no training windows"):
        split_shards(np.arange(0), 3, seed=0)
