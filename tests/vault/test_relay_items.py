"""Items laptops send through the relay: a relay that drops, replays or reorders is caught."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vault.keys import Identity
from vault.relay_items import (
    FIRST_PREV,
    TO_TEAM,
    Item,
    ItemError,
    Received,
    RelayMisbehaved,
    check_next,
    check_signature,
    make_item,
    parse_item,
)

ORIGIN = "vault.redress/" + "a" * 32


@pytest.fixture(scope="module")
def amara() -> Identity:
    return Identity.generate("amara")


def chain(author: Identity, count: int) -> list[Item]:
    items: list[Item] = []
    prev = FIRST_PREV
    for n in range(1, count + 1):
        item = make_item(author, ORIGIN, n, prev, TO_TEAM, 1, f"sealed {n}".encode())
        items.append(item)
        prev = item.hash
    return items


def receive(items: list[Item], start: Received | None = None) -> Received:
    got = start or Received()
    held: dict[int, str] = {}
    for item in items:
        if check_next(got, item, held.get(item.n)):
            held[item.n] = item.hash
            got = Received(item.n, item.hash, got.acked)
    return got


def test_items_in_order_are_taken(amara: Identity) -> None:
    items = chain(amara, 5)
    assert receive(items) == Received(5, items[-1].hash)
    for item in items:
        check_signature(item, amara.public.sign_pk)
        assert parse_item(item.to_wire()) == item


def test_a_dropped_item_is_named(amara: Identity) -> None:
    items = chain(amara, 5)
    with pytest.raises(RelayMisbehaved, match="dropped items 2 to 3 from laptop"):
        receive([items[0], items[3]])


def test_items_out_of_order_are_caught(amara: Identity) -> None:
    items = chain(amara, 3)
    with pytest.raises(RelayMisbehaved, match="dropped item 2"):
        receive([items[0], items[2], items[1]])


def test_an_item_sent_again_before_acknowledging_is_skipped(amara: Identity) -> None:
    items = chain(amara, 3)
    held = {i.n: i.hash for i in items[:2]}
    got = Received(2, items[1].hash, acked=0)
    assert check_next(got, items[1], held[2]) is False  # the sync before was cut off
    assert check_next(got, items[2]) is True


def test_an_acknowledged_item_sent_again_is_a_replay(amara: Identity) -> None:
    items = chain(amara, 3)
    got = Received(2, items[1].hash, acked=2)
    with pytest.raises(RelayMisbehaved, match="replay"):
        check_next(got, items[0], items[0].hash)


def test_a_different_item_with_a_held_number_is_a_fork(amara: Identity) -> None:
    items = chain(amara, 2)
    other = make_item(amara, ORIGIN, 2, items[0].hash, TO_TEAM, 1, b"something else")
    got = Received(2, items[1].hash)
    with pytest.raises(RelayMisbehaved, match="different item 2"):
        check_next(got, other, items[1].hash)


def test_an_item_that_does_not_follow_its_predecessor_is_caught(amara: Identity) -> None:
    items = chain(amara, 2)
    stray = make_item(amara, ORIGIN, 2, "f" * 64, TO_TEAM, 1, b"x")
    with pytest.raises(RelayMisbehaved, match="does not follow"):
        receive([items[0], stray])


def test_an_item_signed_by_someone_else_is_refused(amara: Identity) -> None:
    mallory = Identity.generate("mallory")
    forged = make_item(mallory, ORIGIN, 1, FIRST_PREV, TO_TEAM, 1, b"x")
    with pytest.raises(ItemError, match="not signed by its owner"):
        check_signature(forged, amara.public.sign_pk)


def test_an_item_for_one_member_names_no_epoch(amara: Identity) -> None:
    item = make_item(amara, ORIGIN, 1, FIRST_PREV, amara.key_id, 0, b"for one")
    assert item.to == amara.key_id
    with pytest.raises(ItemError):
        make_item(amara, ORIGIN, 1, FIRST_PREV, amara.key_id, 3, b"x")
    with pytest.raises(ItemError):
        make_item(amara, ORIGIN, 1, FIRST_PREV, TO_TEAM, 0, b"x")


def test_a_repr_shows_no_content(amara: Identity) -> None:
    assert "sealed 1" not in repr(chain(amara, 1)[0])


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=400))
def test_any_bytes_are_refused_as_an_item_error(wire: bytes) -> None:
    with pytest.raises(ItemError):
        parse_item(wire)


@settings(max_examples=100, deadline=None)
@given(st.permutations(list(range(6))), st.integers(0, 5))
def test_any_reordering_or_dropping_is_caught(order: list[int], drop: int) -> None:
    author = Identity.generate("bea")
    items = chain(author, 6)
    sent = [items[i] for i in order if i != drop]
    in_order = sent == [i for i in items if i.n != drop + 1]
    if in_order and drop == 5:
        assert receive(sent).n == 5  # dropping only the last is not visible yet: nothing follows
    else:
        with pytest.raises(RelayMisbehaved):
            receive(sent)


def test_only_the_canonical_body_is_an_item(amara: Identity) -> None:
    item = make_item(amara, ORIGIN, 1, FIRST_PREV, TO_TEAM, 1, bytes(range(256)) * 4)
    assert parse_item(item.to_wire()).sealed == item.sealed
    text = item.body.decode()
    doc = json.loads(text)
    sealed = doc["sealed"]
    slash = sealed.index("/")
    for body in (
        text.replace('"sealed":"', '"sealed": "'),  # a space
        text.replace(sealed, sealed[:slash] + "\\/" + sealed[slash + 1 :]),  # "/" escaped
        text.replace(sealed, f"\\u{ord(sealed[0]):04x}" + sealed[1:]),  # a letter escaped
        json.dumps({"sealed": doc.pop("sealed"), **doc}, separators=(",", ":")),  # reordered
    ):
        assert json.loads(body)["sealed"] == sealed
        with pytest.raises(ItemError):
            parse_item(item.signature + body.encode())
