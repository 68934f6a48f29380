"""A new caseworker's request to join the team, made on their own laptop.

``vault join --name bea --out bea.request`` writes this file: bea's public keys and the name
of the access log her laptop keeps, signed with her own key (so the file shows she holds it).
It holds nothing secret. A colleague adds her with ``vault caseworker add bea --request
bea.request`` after checking, by voice, that the fingerprint both laptops print is the same:
that is what stops someone who can swap the file on its way from joining in her place.

The file is JSON::

    {"kind": "redress join request", "v": 1, "name": "bea", "sign_pk": <base64>,
     "box_pk": <base64>, "origin": "vault.redress/<32 hex>", "fingerprint": "1a2b 3c4d ...",
     "signature": <base64>}

``signature`` is Ed25519 by ``sign_pk`` over ``"redress join request v1" || 0x00 ||`` the
canonical JSON of the other fields but ``fingerprint``. The fingerprint is the first 16 bytes
of the tagged hash ``"redress caseworker fingerprint v1"`` over ``sign_pk || box_pk``, in
groups of four hex digits; it is recomputed, never trusted from the file.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from vault import _crypto
from vault.errors import IntegrityError, VaultError
from vault.keys import Identity, b64, unb64, validate_name
from vault.report import canonical_json

KIND = "redress join request"
CONTEXT = b"redress join request v1\x00"
MAX_REQUEST = 2048
_ORIGIN = re.compile(r"vault\.redress/[0-9a-f]{32}")


class JoinRequestError(IntegrityError):
    """That file is not a Redress join request, or it has been changed."""


def fingerprint(sign_pk: bytes, box_pk: bytes) -> str:
    digest = _crypto.tagged_hash("redress caseworker fingerprint v1", sign_pk, box_pk)[:16].hex()
    return " ".join(digest[i : i + 4] for i in range(0, len(digest), 4))


@dataclass(frozen=True, slots=True)
class JoinRequest:
    name: str
    sign_pk: bytes
    box_pk: bytes
    origin: str

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.sign_pk, self.box_pk)

    def _signed_part(self) -> bytes:
        return canonical_json(
            {
                "kind": KIND,
                "v": 1,
                "name": self.name,
                "sign_pk": b64(self.sign_pk),
                "box_pk": b64(self.box_pk),
                "origin": self.origin,
            }
        )


def make_request(identity: Identity, origin: str) -> bytes:
    """The request file's bytes for this laptop's owner."""
    public = identity.public
    request = JoinRequest(public.name, public.sign_pk, public.box_pk, origin)
    signature = identity.sign(CONTEXT + request._signed_part())
    doc = json.loads(request._signed_part())
    doc |= {"fingerprint": request.fingerprint, "signature": b64(signature)}
    return (json.dumps(doc, indent=2) + "\n").encode()


def read_request(data: bytes) -> JoinRequest:
    """A join request from its file, its signature checked."""
    wrong = JoinRequestError()
    if len(data) > MAX_REQUEST:
        raise wrong
    try:
        doc = json.loads(data)
        if not isinstance(doc, dict) or doc.get("kind") != KIND:
            raise ValueError
        if set(doc) != {
            "kind",
            "v",
            "name",
            "sign_pk",
            "box_pk",
            "origin",
            "fingerprint",
            "signature",
        }:
            raise ValueError
        if type(doc["v"]) is not int or doc["v"] != 1:
            raise ValueError
        name, origin = doc["name"], doc["origin"]
        if not isinstance(name, str) or validate_name(name) != name:
            raise ValueError
        if not isinstance(origin, str) or not _ORIGIN.fullmatch(origin):
            raise ValueError
        request = JoinRequest(name, unb64(doc["sign_pk"], 32), unb64(doc["box_pk"], 32), origin)
        signature = unb64(doc["signature"], 64)
    except (ValueError, TypeError, UnicodeDecodeError, VaultError):
        raise wrong from None
    try:
        _crypto.verify(signature, CONTEXT + request._signed_part(), request.sign_pk)
    except _crypto.OpenFailed:
        raise JoinRequestError("That join request has been changed since it was made.") from None
    return request
