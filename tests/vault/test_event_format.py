"""Event bodies: format 1 as before, format 2 with the author's clock and what they had seen."""

from __future__ import annotations

import json

import pytest

from vault.clock import Stamp
from vault.errors import IntegrityError
from vault.events import Event, parse_event, sign_event, verify_event
from vault.keys import Identity


@pytest.fixture(scope="module")
def amara() -> Identity:
    return Identity.generate("amara")


def test_a_format_1_event_is_unchanged(amara: Identity) -> None:
    event = Event.new("7KQ2M9XD", "note", amara, {"sealed": "AA=="})
    doc = json.loads(event.body())
    assert doc["v"] == 1
    assert set(doc) == {"v", "id", "case", "kind", "actor", "at", "data"}
    assert parse_event(event.body()) == event


def test_a_format_2_event_round_trips_signed(amara: Identity) -> None:
    event = Event.new(
        "7KQ2M9XD",
        "status",
        amara,
        {"to": "triage"},
        stamp=Stamp(1_700_000_000_000, 3),
        after=("b" * 32, "a" * 32),
    )
    assert event.after == ("a" * 32, "b" * 32)
    signed = sign_event(event, amara)
    doc = json.loads(signed.body)
    assert (doc["v"], doc["hlc"], doc["after"]) == (2, [1_700_000_000_000, 3], ["a" * 32, "b" * 32])
    assert verify_event(signed.body, signed.signature, amara.public.sign_pk) == event


@pytest.mark.parametrize(
    "change",
    [
        {"hlc": [1, 2, 3]},
        {"hlc": "1-2"},
        {"after": ["b", "a"]},
        {"after": ["a", "a"]},
        {"after": "a"},
        {"after": [1]},
        {"after": ["x"] * 65},
        {"v": 3},
        {"extra": 1},
    ],
)
def test_a_format_2_body_out_of_form_is_refused(amara: Identity, change: dict[str, object]) -> None:
    event = Event.new("7KQ2M9XD", "note", amara, {}, stamp=Stamp(5, 0), after=("a" * 32,))
    doc = json.loads(event.body()) | change
    if change.get("after") == ["x"] * 65:
        doc["after"] = [f"{i:032x}" for i in range(65)]
    body = json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()
    with pytest.raises(IntegrityError):
        parse_event(body)


def test_a_format_1_body_without_the_clock_fields_stays_format_1(amara: Identity) -> None:
    event = Event.new("7KQ2M9XD", "note", amara, {})
    doc = json.loads(event.body()) | {"v": 2}
    body = json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()
    with pytest.raises(IntegrityError):
        parse_event(body)
