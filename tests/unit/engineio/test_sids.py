"""Session ids that name their owner (socketwire.engineio.sids)."""

from __future__ import annotations

import pytest

from socketwire.engineio.sids import (
    ALPHABET,
    MAX_WORKERS,
    SID_LENGTH,
    is_owner,
    new_node_tag,
    new_sid,
    node_of,
    owner_of,
    owner_prefix,
    worker_of,
)


@pytest.mark.parametrize("worker", [0, 1, 9, MAX_WORKERS - 1])
def test_a_sid_names_its_worker_and_node(worker: int) -> None:
    node = new_node_tag()
    sid = new_sid(owner_prefix(worker, node))
    assert len(sid) == SID_LENGTH
    assert all(char in ALPHABET for char in sid)
    assert worker_of(sid) == worker
    assert node_of(sid) == node


def test_without_a_prefix_the_sid_is_20_random_characters() -> None:
    sids = {new_sid() for _ in range(100)}
    assert len(sids) == 100
    assert all(len(sid) == SID_LENGTH for sid in sids)


@pytest.mark.parametrize("sid", ["", "short", "x" * 21, "AAAA"])
def test_an_id_of_another_length_has_no_owner(sid: str) -> None:
    assert worker_of(sid) is None
    assert node_of(sid) is None


@pytest.mark.parametrize(
    ("worker", "node"), [(-1, "abcd"), (MAX_WORKERS, "abcd"), (0, "abc"), (0, "ab+d")]
)
def test_owner_prefix_refuses_what_a_sid_cannot_carry(worker: int, node: str) -> None:
    with pytest.raises(ValueError, match=r"worker|node tag"):
        owner_prefix(worker, node)


def test_owner_of_is_the_prefix_a_sid_starts_with() -> None:
    prefix = owner_prefix(3, new_node_tag())
    sid = new_sid(prefix)
    assert owner_of(sid) == prefix
    assert is_owner(prefix)


@pytest.mark.parametrize("sid", ["", "short", "x" * 21, "AAAA+" + "x" * 15, "ab/cd" + "y" * 15])
def test_an_id_no_node_makes_has_no_owner(sid: str) -> None:
    assert owner_of(sid) is None


@pytest.mark.parametrize("text", ["", "AAAA", "AAAAAA", "AA AA", "AAAA+", "AAAA\n"])
def test_is_owner_refuses_what_owner_prefix_cannot_make(text: str) -> None:
    assert not is_owner(text)
