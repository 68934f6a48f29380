"""An HTTP fuzzer over every intake route, against a real `vault intake serve` on loopback.

Hypothesis draws whole requests: the method, a route of vault/intake/app.py (or a path near
one), its path parameters, a query string, the headers (content type, a right, wrong,
missing or nonsensical length, chunked bodies, proof of work valid or not, junk headers) and a
body (JSON of every shape, deep nesting, huge numbers, unicode, binary garbage, bodies over
the route's cap, truncated bodies, real envelopes, forms, witness requests). A caseworker's
route gets no signature, a valid one (made with the key of a vault made by ``vault init``),
a replay of a request already answered, a tampered or stale one, one from a stranger, or one
made for another path. Each request goes over a raw socket, so it is sent exactly as drawn.

Every answer must be below 500 and the server's stderr must stay free of tracebacks. A
signed request the intake must refuse (replayed, tampered, stale, a stranger's) must never
be answered 2xx. The shapes issue 16 found giving 500s (F4: a caseworker's 2,000-level
nesting, a witness checkpoint of size 2**63 or more) are drawn too, and have their own tests
below.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.faults.intake_harness import (
    Answer,
    TeamVault,
    build_request,
    proof,
    raw_request,
    shared_team,
    signed_headers,
    signed_json,
    size,
    start_intake,
    submit,
    tracebacks,
)
from tests.intake_server import IntakeServer, IntakeServers
from tests.sealing import attachment_entry
from vault import _crypto
from vault.audit.signed_note import Checkpoint, NoteSigner, sign_checkpoint
from vault.envelope import padded_length
from vault.intake.auth import (
    H_KEY,
    H_NONCE,
    H_SIGNATURE,
    H_TIME,
    request_message,
    sign_request,
)
from vault.keys import Identity

EXAMPLES = size(300, 4000)
DEEP = 2000  # the nesting issue 16 found giving a 500 (F4)

# (method, path template, kind): every route of vault/intake/app.py, and the static files.
ROUTES: list[tuple[str, str, str]] = [
    ("GET", "/", "page"),
    ("GET", "/replies", "page"),
    ("GET", "/sent", "page"),
    ("POST", "/report", "form"),
    ("POST", "/replies", "form"),
    ("GET", "/replies/{token}", "page"),
    ("GET", "/api/challenge", "page"),
    ("POST", "/api/reports", "report"),
    ("POST", "/api/attachments", "attachment"),
    ("POST", "/api/attachments/parts", "attachment"),
    ("PUT", "/api/attachments/parts/{upload}/{offset}", "part"),
    ("POST", "/api/attachments/parts/{upload}/end", "part"),
    ("GET", "/api/mailbox/{mailbox}", "mailbox"),
    ("POST", "/api/pull", "pull"),
    ("GET", "/api/blobs/{blob}", "blob"),
    ("POST", "/api/ack", "ack"),
    ("POST", "/api/replies", "replies"),
    ("GET", "/witness/key", "page"),
    ("POST", "/witness/add-checkpoint", "witness"),
    ("GET", "/static/vendor/libsodium-wrappers.js", "page"),
    ("GET", "/static/vendor/libsodium.js", "page"),
    ("GET", "/static/wordlist/english.txt", "page"),
    *[
        ("GET", f"/static/{p.name}", "page")
        for p in sorted((Path(__file__).parents[2] / "vault/intake/static").iterdir())
    ],
]
SIGNED = {"pull", "blob", "ack", "replies"}
# The caseworkers' routes and the witness are drawn four times as often as the others.
WEIGHTED = ROUTES + [r for r in ROUTES if r[2] in SIGNED | {"witness"}] * 3
AUTH = ["none", "valid", "replay", "tampered", "stale", "stranger", "other-path"]
REFUSED_AUTH = {"none", "tampered", "stale", "stranger", "other-path"}


@dataclass
class Fuzzed:
    """The module's intake, the vault whose caseworker signs, and what the fuzzer counted."""

    server: IntakeServer
    team: TeamVault
    stranger: Identity
    blob: str
    upload: str  # an upload in parts, opened (the fuzzer may end or drop it)
    mailbox: str
    origin: str
    cases: int = 0
    statuses: dict[int, int] = field(default_factory=dict)
    server_errors: list[str] = field(default_factory=list)
    err_seen: int = 0
    witness_size: int = 0  # the size this intake's witness last cosigned for the vault's log
    drawn_size: int = 0  # the checkpoint size of the last witness body drawn


@pytest.fixture(scope="module")
def fuzzed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fuzzed]:
    root = tmp_path_factory.mktemp("fuzz")
    team = shared_team(tmp_path_factory)
    with IntakeServers(root) as servers:
        server = start_intake(servers, team, "--read-timeout", "2")
        # Something to find: a report, an attachment, a reply in a mailbox.
        assert submit(server.url, team.seal()).status == 202
        _, blob_bytes = attachment_entry(b"evidence " * 100)
        upload = raw_request(
            server.url,
            build_request(
                b"POST",
                b"/api/attachments",
                [
                    (b"Content-Type", b"application/octet-stream"),
                    (b"Content-Length", str(len(blob_bytes)).encode()),
                    (b"X-Redress-PoW", proof(server.url).encode()),
                ],
                blob_bytes,
            ),
        )
        assert upload.status == 201, upload
        opened = raw_request(
            server.url,
            build_request(
                b"POST",
                b"/api/attachments/parts",
                [(b"Content-Length", b"0"), (b"X-Redress-PoW", proof(server.url).encode())],
                b"",
            ),
        )
        assert opened.status == 201, opened
        mailbox = secrets.token_hex(16)
        reply = base64.b64encode(os.urandom(padded_length(100) + _crypto.SEAL_OVERHEAD)).decode()
        stored = signed_json(
            server.url,
            team.identity,
            "/api/replies",
            {"replies": [{"mailbox": mailbox, "body": reply}]},
        )
        assert stored.status == 200, stored
        state = Fuzzed(
            server=server,
            team=team,
            stranger=Identity.generate("mallory"),
            blob=json.loads(upload.body)["blob"],
            upload=json.loads(opened.body)["upload"],
            mailbox=mailbox,
            origin=team.vault.log.origin,
        )
        try:
            yield state
        finally:
            summary = (
                f"intake fuzz: {state.cases} cases, "
                f"statuses {dict(sorted(state.statuses.items()))}, "
                f"5xx {len(state.server_errors)}, tracebacks {len(tracebacks(server))}"
            )
            print("\n" + summary)
            if report := os.environ.get("REDRESS_FAULTS_REPORT"):
                with open(report, "a", encoding="utf-8") as f:
                    f.write(summary + "\n")


# --- what hypothesis draws ----------------------------------------------------------------------

HUGE_INTS = st.sampled_from([2**63 - 1, 2**63, 2**64, -(2**63) - 1, 10**400, -(10**4000)])
JSON_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | HUGE_INTS
    | st.floats(allow_nan=False)
    | st.text(max_size=40)
    | st.sampled_from(["\ud800", "\u0000", "\u202e", "🦊" * 50, "a" * 5000])
)
JSON = st.recursive(
    JSON_SCALARS,
    lambda inner: (
        st.lists(inner, max_size=6) | st.dictionaries(st.text(max_size=10), inner, max_size=6)
    ),
    max_leaves=30,
)


def hex_of(n: int) -> st.SearchStrategy[str]:
    return st.binary(min_size=n, max_size=n).map(bytes.hex)


def path_param(n: int, known: str | None = None) -> st.SearchStrategy[str]:
    choices = [
        hex_of(n),
        hex_of(n).map(str.upper),
        st.integers(0, 3 * n).flatmap(hex_of),
        st.text(max_size=80).map(_quote),
        st.sampled_from(["..", "%2e%2e", "%00", "%ff%fe", "x" * 5000, "", "%", "a/b", "🦊"]),
    ]
    if known is not None:
        choices.append(st.just(known))
    return st.one_of(choices)


def _quote(text: str) -> str:
    return quote(text, safe="")


def json_body(kind: str, state: Fuzzed) -> st.SearchStrategy[Any]:
    """Well-formed and ill-formed documents for each caseworker's route."""
    ids = st.lists(hex_of(32) | st.just(state.blob) | JSON, max_size=20)
    if kind == "pull":
        return (
            st.fixed_dictionaries(
                {},
                optional={
                    "limit": st.integers(-5, 2000) | HUGE_INTS | JSON,
                    "after": hex_of(32) | hex_of(31) | JSON,
                },
            )
            | JSON
        )
    if kind == "ack":
        return (
            st.fixed_dictionaries({}, optional={"envelopes": ids | JSON, "blobs": ids | JSON})
            | JSON
        )
    reply = st.fixed_dictionaries(
        {
            "mailbox": hex_of(16) | st.just(state.mailbox) | JSON,
            "body": st.integers(0, 3000).map(lambda n: base64.b64encode(os.urandom(n)).decode())
            | st.just(
                base64.b64encode(os.urandom(padded_length(10) + _crypto.SEAL_OVERHEAD)).decode()
            )
            | JSON,
        }
    )
    return st.fixed_dictionaries({"replies": st.lists(reply | JSON, max_size=5)}) | JSON


def deep(depth: int, opener: str) -> bytes:
    closer = {"[": "]", "{": "}"}[opener]
    if opener == "{":
        return ('{"a":' * depth + "1" + closer * depth).encode()
    return (opener * depth + closer * depth).encode()


@dataclass
class Case:
    method: bytes
    target: bytes
    headers: list[tuple[bytes, bytes]]
    body: bytes  # as signed
    wire: bytes  # as sent
    kind: str
    auth: str
    truncate: int | None
    checkpoint_size: int | None = None

    def __repr__(self) -> str:
        body = self.body if len(self.body) <= 300 else self.body[:300] + b"..."
        return (
            f"Case({self.method!r} {self.target[:300]!r} auth={self.auth} kind={self.kind} "
            f"truncate={self.truncate} headers={[(k, v[:100]) for k, v in self.headers]!r} "
            f"body[{len(self.body)}]={body!r})"
        )

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(repr(self))


@st.composite
def cases(draw: st.DrawFn, state: Fuzzed) -> Case:
    method, template, kind = draw(st.sampled_from(WEIGHTED))
    if draw(st.integers(0, 9)) == 0:
        method = draw(
            st.sampled_from(
                ["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD", "TRACE", "get", "BREW"]
            )
        )
    path = (
        template.replace("{mailbox}", draw(path_param(16, state.mailbox)))
        .replace("{blob}", draw(path_param(32, state.blob)))
        .replace("{token}", draw(path_param(32)))
        .replace("{upload}", draw(path_param(16, state.upload)))
        .replace(
            "{offset}",
            draw(
                st.integers(0, 2**70).map(str)
                | st.just("0")
                | st.sampled_from(["-1", "1e3", "+5", "0x10", "9" * 30, "", " 1"]).map(_quote)
            ),
        )
    )
    mutate = draw(st.integers(0, 14))
    if mutate == 0:
        path += draw(st.sampled_from(["/", "//", "/..", "%2f", "/x", ".json", "?"]))
    elif mutate == 1:
        path = draw(
            st.sampled_from(
                ["//", "/api", "/api/", "/static/", "/static/../app.py", "/%2e%2e/etc/passwd", "*"]
            )
        )
    elif mutate == 2:
        path = path + "/" + draw(st.text(max_size=30).map(_quote))
    query = ""
    if draw(st.integers(0, 4)) == 0:
        query = "?" + draw(
            st.sampled_from(["lang=fr", "lang=" + "x" * 3000, "a=%ff", "&&&", "x=1&x=2", "limit=1"])
            | st.text(max_size=40).map(_quote)
        )
    target = path + query

    # the body
    source = draw(st.integers(0, 9))
    content_type = {
        "form": "application/x-www-form-urlencoded",
        "report": "application/octet-stream",
        "attachment": "application/octet-stream",
        "part": "application/octet-stream",
    }.get(kind, "application/json")
    if kind in ("pull", "ack", "replies") and source < 6:
        body = json.dumps(draw(json_body(kind, state))).encode()
    elif kind == "report" and source < 4:
        body = state.team.seal()
        if source == 0:
            body = body[: draw(st.integers(0, len(body)))]
        elif source == 1:
            at = draw(st.integers(0, len(body) - 1))
            body = body[:at] + bytes([body[at] ^ 0xFF]) + body[at + 1 :]
    elif kind == "form" and source < 5:
        fields = draw(
            st.dictionaries(
                st.sampled_from(
                    [
                        "sector",
                        "role",
                        "harms",
                        "what_happened",
                        "wants",
                        "contact_method",
                        "contact_value",
                        "consent_alert",
                        "x",
                    ]
                ),
                st.text(max_size=50),
                max_size=9,
            )
        )
        body = urlencode(fields).encode()
        if source == 0:
            body += b"&%zz=%%%&" + b"=" * 10
    elif kind == "witness" and source < 6:
        body = draw(witness_body(state))
    elif source < 8 and kind in SIGNED | {"witness"}:
        body = deep(
            draw(st.sampled_from([10, 500, 999, 1001, DEEP, 3000])), draw(st.sampled_from("[{"))
        )
    elif source == 8:
        body = draw(
            st.sampled_from(
                [
                    b"\x00" * 70_000,
                    os.urandom(1 << 16),
                    b"{" * 1_100_000,
                    b'{"limit": 1' + b"0" * 5000 + b"}",  # past int()'s 4,300 digits
                    b'{"envelopes": [' + b",".join([b'"' + b"a" * 64 + b'"'] * 20_001) + b"]}",
                    b"\xef\xbb\xbf{}",
                    b'{"a": NaN, "b": Infinity}',
                ]
            )
        )
    else:
        body = draw(
            st.binary(max_size=2000)
            | st.text(max_size=500).map(str.encode)
            | JSON.map(lambda d: json.dumps(d).encode())
        )

    # the headers
    headers: list[tuple[bytes, bytes]] = []
    ctype = draw(st.integers(0, 9))
    if ctype < 7:
        headers.append(
            (
                b"Content-Type",
                content_type.encode()
                + draw(st.sampled_from([b"", b"; charset=utf-8", b";;;", b"; boundary=\xff"])),
            )
        )
    elif ctype == 7:
        headers.append(
            (
                b"Content-Type",
                draw(
                    st.sampled_from(
                        [
                            b"text/plain",
                            b"multipart/form-data",
                            b"application/JSON",
                            b"\xff\xfe",
                            b"a" * 9000,
                        ]
                    )
                ),
            )
        )
    truncate = None
    wire = body
    length_kind = draw(st.integers(0, 11))
    if length_kind < 7:
        headers.append((b"Content-Length", str(len(body)).encode()))
    elif length_kind == 7:
        truncate = draw(st.integers(0, max(0, len(body) - 1)))
        headers.append((b"Content-Length", str(len(body)).encode()))
    elif length_kind == 8:
        headers.append(
            (
                b"Content-Length",
                draw(
                    st.sampled_from(
                        [b"-1", b"abc", b"1e3", b"99999999999999999999999", b"0", b" 5", b"+7"]
                    )
                ),
            )
        )
    elif length_kind == 9:
        headers.append((b"Transfer-Encoding", b"chunked"))
        if draw(st.integers(0, 3)):
            wire = chunked(body, draw(st.integers(1, 70_000)))
    elif length_kind == 10:
        headers += [(b"Content-Length", str(len(body)).encode()), (b"Content-Length", b"1")]
    if kind in ("report", "attachment") and draw(st.integers(0, 3)) > 0:
        pow_value = (
            proof(state.server.url)
            if draw(st.booleans())
            else draw(
                st.sampled_from(
                    ["", "x", "a.0000000000000000", "A" * 48 + ".zzzzzzzzzzzzzzzz", "🦊"]
                )
            )
        )
        headers.append((b"X-Redress-PoW", pow_value.encode("utf-8")))
    for _ in range(draw(st.integers(0, 2))):
        headers.append(
            (
                draw(
                    st.sampled_from(
                        [
                            b"X-Junk",
                            b"Accept-Language",
                            b"Cookie",
                            b"X-Forwarded-For",
                            b"Expect",
                            b"Range",
                            b"If-None-Match",
                            b"Connection",
                        ]
                    )
                ),
                draw(
                    st.sampled_from(
                        [
                            b"",
                            b"\xff\xfe",
                            b"a" * 8000,
                            b"100-continue",
                            b"bytes=0-1,5-",
                            b"close",
                            b"keep-alive",
                            b"*",
                        ]
                    )
                ),
            )
        )

    # the signature
    auth = "none"
    if kind in SIGNED or draw(st.integers(0, 19)) == 0:
        auth = draw(st.sampled_from(AUTH))
    if auth != "none":
        signing_method = method.upper()
        identity = state.stranger if auth == "stranger" else state.team.identity
        signed_target = "/api/pull" if auth == "other-path" and path != "/api/pull" else target
        if auth == "other-path" and path == "/api/pull":
            signed_target = "/api/ack"
        values = sign_request(identity, signing_method, signed_target, body)
        if auth == "tampered":
            raw = bytearray(base64.b64decode(values["X-Redress-Signature"]))
            raw[draw(st.integers(0, 63))] ^= 1 << draw(st.integers(0, 7))
            values["X-Redress-Signature"] = base64.b64encode(bytes(raw)).decode()
        if auth == "stale":
            values = sign_request_at(
                identity, signing_method, signed_target, body, time.time() - 3600
            )
        headers += [(k.encode(), v.encode()) for k, v in values.items()]
    case = Case(method.encode(), target.encode("utf-8"), headers, body, wire, kind, auth, truncate)
    case.checkpoint_size = state.drawn_size if kind == "witness" else None
    return case


def chunked(body: bytes, piece: int) -> bytes:
    parts = [
        b"%x\r\n%s\r\n" % (len(body[i : i + piece]), body[i : i + piece])
        for i in range(0, len(body), piece)
    ]
    return b"".join(parts) + b"0\r\n\r\n"


def sign_request_at(
    identity: Identity, method: str, path: str, body: bytes, when: float
) -> dict[str, str]:
    timestamp = str(int(when))
    nonce = secrets.token_hex(16)
    signature = identity.sign(request_message(method, path, timestamp, nonce, body))
    return {
        H_KEY: identity.key_id,
        H_TIME: timestamp,
        H_NONCE: nonce,
        H_SIGNATURE: base64.b64encode(signature).decode(),
    }


@st.composite
def witness_body(draw: st.DrawFn, state: Fuzzed) -> bytes:
    """``old N``, proof lines, a blank line and a checkpoint note, signed or not."""
    size_ = draw(
        st.integers(0, 1000)
        | st.integers(0, 2**70)
        | st.sampled_from([2**63 - 1, 2**63, 2**64 - 1, 10**19])
    )
    old = draw(
        st.just(state.witness_size) | st.integers(0, 10) | st.just(size_) | st.integers(0, 2**70)
    )
    state.drawn_size = size_
    origin = draw(st.just(state.origin) | st.text(max_size=20))
    proof_lines = draw(
        st.lists(
            st.binary(min_size=32, max_size=32).map(lambda b: base64.b64encode(b).decode()),
            max_size=3,
        )
    )
    root = draw(st.binary(min_size=32, max_size=32))
    how = draw(st.sampled_from(["caseworker", "stranger", "garbage"]))
    try:
        checkpoint = Checkpoint(origin, size_, root)
        if how == "garbage":
            note = checkpoint.text() + "\n— nobody AAAA\n"
        else:
            signer = (
                state.team.vault.log.signer
                if how == "caseworker"
                else _stranger_signer(state, origin)
            )
            note = sign_checkpoint(checkpoint, signer)
    except Exception:  # an origin the note format refuses: send it unsigned
        note = f"{origin}\n{size_}\n\n"
    head = "\n".join([f"old {old}", *proof_lines])
    mangle = draw(st.integers(0, 9))
    text = head + "\n\n" + note
    if mangle == 0:
        text = text.replace("\n\n", "\n", 1)
    elif mangle == 1:
        text = text[: draw(st.integers(0, len(text)))]
    return text.encode()


def _stranger_signer(state: Fuzzed, origin: str) -> NoteSigner:
    return NoteSigner(origin, state.stranger.signer)


# --- the fuzzer ---------------------------------------------------------------------------------


def send(state: Fuzzed, case: Case) -> Answer:
    request = build_request(case.method, case.target, case.headers, case.wire)
    if case.truncate is not None:
        cut = len(request) - len(case.wire) + case.truncate
        return raw_request(state.server.url, request[:cut], half_close=True, timeout=10)
    return raw_request(state.server.url, request, timeout=10)


def new_stderr(state: Fuzzed) -> str:
    text = state.server.stderr_path.read_text(errors="replace")
    fresh, state.err_seen = text[state.err_seen :], len(text)
    return fresh


@pytest.mark.slow
def test_every_route_fuzzed(fuzzed: Fuzzed) -> None:

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        database=None,
    )
    @given(case=cases(fuzzed))
    def one(case: Case) -> None:
        fuzzed.cases += 1
        first = send(fuzzed, case)
        answers = [first]
        if case.auth == "replay" and case.kind in SIGNED and case.truncate is None:
            answers.append(send(fuzzed, case))
            again = answers[1].status
            assert again is None or not 200 <= again < 300, f"a replay was accepted: {case!r}"
        if case.auth in REFUSED_AUTH and case.kind in SIGNED:
            assert first.status is None or not 200 <= first.status < 300, (
                f"an unsigned or badly signed request was served: {case!r}"
            )
        for answer in answers:
            if answer.status is not None:
                fuzzed.statuses[answer.status] = fuzzed.statuses.get(answer.status, 0) + 1
            if answer.status is not None and answer.status >= 500:
                fuzzed.server_errors.append(repr(case))
                raise AssertionError(f"{answer.status} {answer.body[:200]!r} for {case!r}")
        if case.kind == "witness" and first.status == 200 and case.checkpoint_size is not None:
            fuzzed.witness_size = case.checkpoint_size
        err = new_stderr(fuzzed)
        assert "Traceback" not in err, f"{err}\nfor {case!r}"
        assert "Exception in ASGI" not in err, f"{err}\nfor {case!r}"

    one()
    assert fuzzed.server_errors == []
    assert tracebacks(fuzzed.server) == []


# --- what the fuzzer's semantics cover, spelled out ---------------------------------------------


def test_signed_requests_out_of_order_and_replayed(fuzzed: Fuzzed) -> None:
    url, me = fuzzed.server.url, fuzzed.team.identity
    unknown = secrets.token_hex(32)
    # out of order: acknowledging what was never pulled, twice; pulling after an unknown id
    for doc in ({"envelopes": [unknown], "blobs": [unknown]}, {"envelopes": [unknown]}):
        answer = signed_json(url, me, "/api/ack", doc)
        assert answer.status == 200, answer
        assert json.loads(answer.body) == {"deleted": 0}, answer
    answer = signed_json(url, me, "/api/pull", {"limit": 5, "after": unknown})
    assert answer.status == 200, answer
    # a request replayed byte for byte is refused; so is one whose body changed after signing
    body = json.dumps({"limit": 1}).encode()
    headers = [(b"Content-Type", b"application/json"), (b"Content-Length", b"%d" % len(body))]
    headers += signed_headers(me, "POST", "/api/pull", body)
    request = build_request(b"POST", b"/api/pull", headers, body)
    assert raw_request(url, request).status == 200
    assert raw_request(url, request).status == 401
    headers = [(b"Content-Type", b"application/json"), (b"Content-Length", b"%d" % len(body))]
    headers += signed_headers(me, "POST", "/api/pull", body)
    changed = build_request(b"POST", b"/api/pull", headers, body.replace(b"1", b"9"))
    assert raw_request(url, changed).status == 401
    # a blob fetched with a request signed for another blob
    headers = signed_headers(me, "GET", f"/api/blobs/{unknown}", b"")
    assert (
        raw_request(
            url, build_request(b"GET", f"/api/blobs/{fuzzed.blob}".encode(), headers, b"")
        ).status
        == 401
    )
    assert tracebacks(fuzzed.server) == []


@pytest.mark.parametrize("path", ["/api/ack", "/api/replies"])
@pytest.mark.parametrize("opener", ["[", "{"])
def test_f4_deeply_nested_json_is_refused(fuzzed: Fuzzed, path: str, opener: str) -> None:
    body = deep(DEEP, opener)
    headers = [(b"Content-Type", b"application/json"), (b"Content-Length", b"%d" % len(body))]
    headers += signed_headers(fuzzed.team.identity, "POST", path, body)
    answer = raw_request(fuzzed.server.url, build_request(b"POST", path.encode(), headers, body))
    assert answer.status is not None, answer
    assert 400 <= answer.status < 500, answer


@pytest.mark.parametrize("checkpoint_size", [2**63, 2**64 - 1, 10**19 + 7])
def test_f4_witness_checkpoint_too_large_is_refused(
    tmp_path: Path, fuzzed: Fuzzed, checkpoint_size: int
) -> None:
    # A fresh witness: the fuzzer's has cosigned other sizes, and answers "old 0" with 409.
    with IntakeServers(tmp_path) as servers:
        server = start_intake(servers, fuzzed.team)
        checkpoint = Checkpoint(fuzzed.origin, checkpoint_size, os.urandom(32))
        body = ("old 0\n\n" + sign_checkpoint(checkpoint, fuzzed.team.vault.log.signer)).encode()
        headers = [(b"Content-Length", b"%d" % len(body))]
        answer = raw_request(
            server.url, build_request(b"POST", b"/witness/add-checkpoint", headers, body)
        )
    assert answer.status is not None, answer
    assert 400 <= answer.status < 500, answer
