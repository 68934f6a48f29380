"""A real intake behind a relay that misbehaves: `vault sync` stops with exit 4 and names it.

Two real vault folders (amara's, made by the library; bea's, joined as `vault join` does:
tests/team_laptops.py) and one real `vault intake serve` on loopback. Bea's every sync is the
real `vault sync` command, talking to the intake through a forwarding relay in this process
(:class:`Misbehaving`) that passes each request through unchanged (signed requests sign the
path, not the host) and, when told, changes one answer of `/api/relay/fetch`: it reorders
two items of one laptop's chain, sends again items it already handed out and bea
acknowledged (a replay), or leaves one out (a drop). docs/sync.md section 5 gives the
answers; tests/vault/test_sync.py tests the receiver's logic against a scripted relay.
"""

from __future__ import annotations

import base64
import http.server
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import PASSPHRASE, Cli, make_report, seal_for
from tests.intake_server import IntakeServers
from tests.team_laptops import join
from vault import case_view, incoming
from vault.relay_items import parse_item
from vault.store import Vault
from vault.sync import sync

pytestmark = pytest.mark.slow


class Misbehaving:
    """A forwarding relay on loopback in front of ``target``; ``misdeed`` (``"reorder"``,
    ``"replay"`` or ``"drop"``) changes the next fetch answer that can show it, then is
    cleared. ``done`` says what it did."""

    def __init__(self, target: str) -> None:
        self.target = target
        self.misdeed: str | None = None
        self.done: str | None = None
        self.last: list[dict[str, Any]] = []  # the last items handed out, for a replay
        relay = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                relay.forward(self)

            def do_POST(self) -> None:
                relay.forward(self)

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.client = httpx.Client(timeout=60)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.client.close()

    def forward(self, handler: http.server.BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length) if length else b""
        skip = ("host", "content-length", "connection", "accept-encoding")
        headers = {k: v for k, v in handler.headers.items() if k.lower() not in skip}
        r = self.client.request(
            handler.command, self.target + handler.path, content=body, headers=headers
        )
        data = r.content
        if handler.path == "/api/relay/fetch" and r.status_code == 200:
            doc = json.loads(data)
            doc["items"] = self.change(doc["items"])
            data = json.dumps(doc).encode()
        handler.send_response(r.status_code)
        hop = ("content-length", "transfer-encoding", "connection", "date", "server")
        for k, v in r.headers.items():
            if k.lower() not in (*hop, "content-encoding"):
                handler.send_header(k, v)
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)

    def change(self, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The answer's items as the relay hands them out (``seq`` is the relay's number)."""
        chains: dict[str, list[int]] = {}  # a laptop's chain: where its items are in the answer
        for i, entry in enumerate(items):
            item = parse_item(base64.b64decode(entry["item"]))
            chains.setdefault(f"{item.origin} {item.to}", []).append(i)
        two = next((where for where in chains.values() if len(where) >= 2), None)
        if self.misdeed == "reorder" and two is not None:
            a, b = two[0], two[1]
            items[a]["item"], items[b]["item"] = items[b]["item"], items[a]["item"]
            self.done, self.misdeed = "reorder", None
        elif self.misdeed == "replay" and self.last and items:
            items = [dict(e) for e in self.last] + items
            self.done, self.misdeed = "replay", None
        elif self.misdeed == "drop" and two is not None:
            del items[two[0]]
            self.done, self.misdeed = "drop", None
        elif items:
            self.last = [dict(e) for e in items]
        return items


class Team:
    def __init__(self, amara: Vault, bea: Path, url: str, relay: Misbehaving, cli: Cli):
        self.amara, self.bea, self.url, self.relay, self.cli = amara, bea, url, relay, cli
        self.case_id = ""
        self.notes: list[str] = []

    def bea_sync(self) -> Any:
        return self.cli("sync", "--from", self.relay.url, "--vault", str(self.bea))

    def amara_writes(self, *texts: str) -> None:
        """Each note its own sync: one team item apiece in amara's chain."""
        for text in texts:
            self.amara.add_note(self.case_id, text)
            sync(self.amara, self.url)
            self.notes.append(text)

    def bea_notes(self) -> list[str]:
        with Vault.unlock(self.bea, PASSPHRASE) as bea:
            doc = case_view.show_case(bea, self.case_id).to_json()
        return [n["text"] for n in doc["notes"]]


@pytest.fixture(scope="module")
def team(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Team]:
    home = tmp_path_factory.mktemp("misbehaving-relay")
    with IntakeServers(home) as servers, Vault.create(home / "a", "amara", PASSPHRASE) as amara:
        url = servers.start(amara.team_key_export()).url
        join(home / "b", "bea", amara, url).close()
        relay = Misbehaving(url)
        try:
            team = Team(amara, home / "b", url, relay, Cli(home))
            envelope = seal_for(amara, make_report(what_happened="A landlord kept my deposit."))
            (team.case_id,) = incoming.import_envelopes(amara, [("r", envelope)]).imported
            sync(amara, url)
            assert team.bea_sync().returncode == 0
            yield team
        finally:
            relay.close()


def _stops(team: Team, misdeed: str, words: str) -> str:
    team.relay.misdeed, team.relay.done = misdeed, None
    result = team.bea_sync()
    assert team.relay.done == misdeed, "the relay found nothing to change"
    assert result.returncode == 4, (result.stdout, result.stderr)
    assert words in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
    return str(result.stderr)


def test_a_real_relays_answers_reordered_replayed_or_dropped_stop_sync_with_exit_4(
    team: Team,
) -> None:
    # Reordered: two of amara's items swapped in one answer. Named, yet nothing is lost:
    # both are taken, and the next sync says nothing.
    team.amara_writes("reorder one", "reorder two")
    said = _stops(team, "reorder", "sent them out of order")
    assert "amara's laptop (vault.redress/" in said
    assert (result := team.bea_sync()).returncode == 0, result.stderr
    assert team.bea_notes() == team.notes

    # Replayed: the items of the answer before, acknowledged and deleted, sent again ahead
    # of a new one. Named; the new one is taken, and the next sync says nothing.
    team.amara_writes("replay one")
    assert team.bea_sync().returncode == 0  # this answer is the one replayed
    team.amara_writes("replay two")
    said = _stops(team, "replay", "again, after it was acknowledged (a replay)")
    assert "amara's laptop (vault.redress/" in said
    assert (result := team.bea_sync()).returncode == 0, result.stderr
    assert team.bea_notes() == team.notes

    # Dropped: one of amara's items left out of the answer, and so deleted on its
    # acknowledgement. Named, with the missing number; the one after it waits set aside, and
    # each later sync that brings more of amara's chain names the gap again (section 8).
    team.amara_writes("drop one", "drop two")
    said = _stops(team, "drop", "The relay dropped item")
    assert "from amara's laptop (vault.redress/" in said
    assert team.bea_notes() == team.notes[:-2]
    team.amara_writes("after the drop")
    result = team.bea_sync()
    assert result.returncode == 4, result.stderr
    assert "The relay dropped item" in result.stderr
    assert team.bea_notes() == team.notes[:-3]
