"""The intake's relay as a laptop talks to it (``docs/sync.md``; the relay's side is
:mod:`vault.intake.relay`): the relay's record of the team and the statements added to it,
putting this laptop's items, fetching the items waiting for it and acknowledging them. Each
call is signed by this laptop's owner; a refusal becomes the caseworker's sentence here.
"""

from __future__ import annotations

import json

import httpx

from vault.errors import IntakeError, IntegrityError
from vault.intake.auth import sign_request
from vault.keys import TeamPublicKey, unb64
from vault.pull import IntakeClient, talking
from vault.team_changes import Statement, TeamChangeError

FETCH_LIMIT = 200


class TeamMovedOn(IntakeError):
    """The relay refused a statement about the team as out of order: its record of the team
    moved on between this laptop reading it and sending the statement."""


class RelayClient(IntakeClient):
    """The relay's signed calls (``docs/sync.md``), over :class:`IntakeClient`'s plumbing."""

    def team(self) -> tuple[TeamPublicKey, list[Statement]]:
        doc = self._post_json("/api/relay/team", {})
        try:
            start = TeamPublicKey.from_file_bytes(unb64(doc["start"]))
            statements = [Statement.from_wire(s) for s in doc["statements"]]
        except (KeyError, TypeError, ValueError, TeamChangeError):
            raise self.not_understood() from None
        return start, statements

    def add_statement(self, statement: Statement) -> None:
        body = json.dumps({"statement": statement.to_wire()}).encode()
        r = self._signed_post("/api/relay/team/add", body, "application/json")
        if r.status_code == 409:
            refused = TeamMovedOn if _error_word(r) == "out-of-order" else IntakeError
            raise refused(
                "The relay refused the statement adding a caseworker: the team changed"
                " meanwhile, or they are already on it. Sync again."
            )
        self._check(r)

    def put(self, wire: bytes) -> None:
        r = self._signed_post("/api/relay/items", wire, "application/octet-stream")
        if r.status_code == 409 and _error_word(r) == "forked":
            raise IntegrityError(
                "The relay holds other items from this laptop under the same numbers, so this"
                " vault (restored from a backup, or a copy) can no longer send to the team:"
                " join the team again as a new laptop (vault join) and ask a colleague to"
                " revoke this one.",
            )
        if r.status_code == 409:
            raise IntegrityError(
                "The relay refused an item from this laptop as out of order: it has items"
                " from this laptop's log that this vault does not.",
                hint="was this vault restored from a backup? Its log now forks from the team's",
            )
        self._check(r)

    def fetch(
        self, limit: int = FETCH_LIMIT, after: int = 0
    ) -> tuple[list[tuple[int, bytes]], bool]:
        body: dict[str, int] = {"limit": limit}
        if after:
            body["after"] = after
        doc = self._post_json("/api/relay/fetch", body)
        try:
            items = [(int(i["seq"]), unb64(i["item"])) for i in doc["items"]]
            more = doc["more"]
        except (KeyError, TypeError, ValueError):
            raise self.not_understood() from None
        if not isinstance(more, bool):
            raise self.not_understood()
        return items, more

    def acknowledge(self, upto: int) -> None:
        self._post_json("/api/relay/ack", {"upto": upto})

    def __enter__(self) -> RelayClient:
        return self

    def _signed_post(self, path: str, body: bytes, content_type: str) -> httpx.Response:
        headers = sign_request(self._identity, "POST", self._target(path), body)
        headers["Content-Type"] = content_type
        with talking(self.url):
            return self._client.post(self.url + path, content=body, headers=headers)


def _error_word(r: httpx.Response) -> str:
    try:
        return str(r.json().get("error", ""))
    except (ValueError, AttributeError):
        return ""
