"""`vault pull`: fetch sealed reports from an intake, store them, then let the intake delete them.

``docs/intake.md`` section 5 is the specification. First the attachments earlier pulls missed
are asked for again; then, page by page:

1. ``POST /api/pull`` (signed) for the next page of envelopes;
2. open and validate each one as ``vault import`` does;
3. commit the page in one vault transaction: good reports as cases, envelopes the vault
   cannot open kept sealed in quarantine, and the attachments the reports name that the vault
   lacks recorded as pending;
4. ``POST /api/ack`` with those envelopes (and the blobs of theirs the vault already holds);
5. for each pending blob, ``GET /api/blobs/{blob}`` streamed straight into the vault's chunk
   rows in a transaction of its own (a blob is never held in memory whole), then ``POST
   /api/ack`` for it, then forget it.

Reporters' messages (answers and withdrawal requests, :mod:`vault.reporter_messages`) come
in the same pages, set aside; once every page is stored they are checked and taken into their
cases in one transaction, then acknowledged (refused ones too: they are counted, not kept).

Then the replies waiting in the outbox are pushed (``POST /api/replies``) and marked delivered.
If the intake's disk is full (``503 {"error": "full"}``) they stay queued for the next pull, and
the pull still finishes: what it pulled is stored and acknowledged, and the log is witnessed.
Nothing is acknowledged before it is committed: a crash before an acknowledgement leaves the
envelope or blob on the intake, and the next pull finds it already held, stores nothing twice,
and acknowledges it.

Every request is signed with the caseworker's identity (``vault.intake.auth``). Everything
exchanged is sealed; the intake learns which caseworker pulled, and when.
"""

from __future__ import annotations

import base64
import binascii
import functools
import json
import re
import ssl
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx

from vault import auditing, blobs, incoming, replies, reporter_messages
from vault.audit.signed_note import COSIGNATURE_V1, SignedNoteError, VerifierKey
from vault.blobs import PendingBlob
from vault.cases import show_id
from vault.envelope import envelope_id
from vault.errors import (
    AttachmentMismatchError,
    AttachmentUnavailableError,
    IntakeError,
    IntakeFullError,
    IntegrityError,
    UsageError,
    VaultError,
    WrongKeyError,
)
from vault.intake.auth import sign_request
from vault.keys import Identity
from vault.replies import QueuedReply
from vault.reporter_messages import QueuedFarewell
from vault.store import Vault

PAGE_SIZE = 100  # envelopes asked for per page
REPLY_BATCH_BYTES = 4 << 20  # base64 reply bytes per push request (the intake takes 16 MiB)
REPLY_BATCH_COUNT = 500
# Reporters' messages one pull holds in memory to take in at its end; past this, the rest are
# left on the intake for the next pull (a message is at most 256 KiB).
MESSAGE_BUDGET = 64 << 20
TIMEOUT = httpx.Timeout(60.0, connect=15.0)
BLOB_PIECE = 1 << 16  # a blob arrives in pieces of at most this many bytes
_ENVELOPE_ID = re.compile(r"[0-9a-f]{64}")
REFUSED_KEY = "The intake does not accept this caseworker's key."
# A signed request whose time is more than 5 minutes from the intake's clock (401 with
# "reason": "clock", vault/intake/auth.py): the laptop's clock, not its key.
REFUSED_CLOCK = (
    "The intake refused this laptop's request because this laptop's clock is more than 5"
    " minutes away from the intake's."
)
CLOCK_HINT = (
    "check this laptop's date, time and time zone (or ask whoever runs the intake to check its"
    " clock), then run the command again"
)


@functools.cache
def _tls() -> ssl.SSLContext:
    """httpx's own default TLS settings (certifi's roots, or ``SSL_CERT_FILE`` or
    ``SSL_CERT_DIR``), made once in a process: each one loads the whole root store (about
    40 ms), and httpx made one for every client, even for a loopback ``http://`` intake."""
    return httpx.create_ssl_context()


def new_http_client() -> httpx.Client:
    """A client for talking to an intake: redirects not followed, :data:`TIMEOUT`."""
    return httpx.Client(timeout=TIMEOUT, follow_redirects=False, verify=_tls())


@dataclass(slots=True)
class PullResult:
    """What a pull did: new cases, envelopes already held, problems, and replies delivered."""

    imported: list[str] = field(default_factory=list)
    duplicates: int = 0
    failures: list[tuple[str, VaultError]] = field(default_factory=list)
    replies_delivered: int = 0
    answers: int = 0  # reporters' answers taken into their cases
    withdrawals: int = 0  # reporters' requests to withdraw, taken into their cases
    messages_waiting: int = 0  # reporters' messages left on the intake for the next pull
    # reporters' messages left on the intake for a colleague's laptop, which holds their case
    messages_for_colleagues: int = 0
    replies_waiting: int = 0  # queued replies not pushed, because the intake's disk is full
    intake_full: IntakeFullError | None = None  # why they wait
    quarantined: Counter[str] = field(default_factory=Counter)  # by reason, this pull
    in_quarantine: int = 0  # all the vault keeps, this pull's included
    # of this pull's quarantined, sealed to a team key epoch not received here yet: left on
    # the intake (not acknowledged) until the key comes
    waiting_for_key: int = 0
    attachments_caught_up: int = 0  # missed by an earlier pull, stored now
    attachments_missing: int = 0  # missed by an earlier pull, and still missing
    witnessed: int | None = None  # the log size the intake's witness cosigned, if it did
    witness_problem: str | None = None  # why the checkpoint was not witnessed
    # The witness has seen a longer or different history of this vault's log: the log here
    # was rewound or rewritten. Everything pulled is stored; the caller must raise the alarm.
    witness_alarm: IntegrityError | None = None


def check_intake_url(url: str) -> str:
    """An intake's base address, without a trailing slash; refuses anything not http(s)."""
    try:
        parsed = httpx.URL(url.strip())
    except (httpx.InvalidURL, TypeError):
        parsed = None
    if parsed is None or parsed.scheme not in ("http", "https") or not parsed.host:
        raise UsageError(
            f"'{url}' is not an intake address.", hint="it looks like https://intake.example.org"
        )
    if parsed.query or parsed.fragment:
        raise UsageError(f"'{url}' is not an intake address: leave out anything after ? or #.")
    if parsed.scheme == "http" and not _private_path(parsed.host):
        raise UsageError(
            f"'{url}' is not encrypted: an intake must be reached over https.",
            hint="plain http is allowed only to this computer or to a .onion address",
        )
    return str(parsed).rstrip("/")


def _private_path(host: str) -> bool:
    """Loopback and Tor onion services are the only places plain http is acceptable."""
    return host in ("localhost", "127.0.0.1", "::1") or host.endswith(".onion")


class IntakeClient:
    """Signed requests to one intake, each turned into a plain error if it fails."""

    def __init__(self, url: str, identity: Identity, client: httpx.Client | None = None) -> None:
        self.url = check_intake_url(url)
        self._identity = identity
        self._client = client or new_http_client()
        self._own_client = client is None

    def close(self) -> None:
        if self._own_client:
            self._client.close()

    def __enter__(self) -> IntakeClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- the four calls ------------------------------------------------------------------

    def pull_page(self, after: str | None, limit: int = PAGE_SIZE) -> tuple[list[Any], bool]:
        """One page of ``{"id", "body"}`` items after ``after``, and whether more wait."""
        request: dict[str, Any] = {"limit": limit}
        if after is not None:
            request["after"] = after
        doc = self._post_json("/api/pull", request)
        envelopes, more = doc.get("envelopes"), doc.get("more")
        if not isinstance(envelopes, list) or not isinstance(more, bool):
            raise self.not_understood()
        return envelopes, more

    def blob(self, blob: str, limit: int | None = None) -> Iterator[bytes]:
        """A sealed attachment's bytes as they arrive; memory stays flat.

        The bytes are taken exactly as sent (no content decoding), in pieces of at most
        :data:`BLOB_PIECE`. With a ``limit`` (the sealed length the report implies), a blob
        the intake says is longer is not read at all, and reading stops once past it.
        """
        path = f"/api/blobs/{blob}"
        headers = sign_request(self._identity, "GET", self._target(path), b"")
        headers["Accept-Encoding"] = "identity"
        with talking(self.url), self._client.stream("GET", self.url + path, headers=headers) as r:
            if r.status_code == 404:
                raise AttachmentUnavailableError()
            self._check(r)
            declared = r.headers.get("Content-Length", "")
            if limit is not None and declared.isdigit() and int(declared) > limit:
                return  # too long: refused unread (the caller sees the wrong length)
            seen = 0
            for piece in r.iter_raw(BLOB_PIECE):
                seen += len(piece)
                yield piece
                if limit is not None and seen > limit:
                    return

    def ack(self, envelopes: list[str], blobs: list[str]) -> int:
        """Let the intake delete what the vault now holds; returns how many rows it deleted."""
        doc = self._post_json("/api/ack", {"envelopes": envelopes, "blobs": blobs})
        deleted = doc.get("deleted")
        if not isinstance(deleted, int):
            raise self.not_understood()
        return deleted

    def push_replies(self, replies: Sequence[QueuedReply | QueuedFarewell]) -> None:
        body = {
            "replies": [
                {"mailbox": r.mailbox, "body": base64.b64encode(r.body).decode("ascii")}
                for r in replies
            ]
        }
        doc = self._post_json("/api/replies", body)
        if not isinstance(doc.get("stored"), int):
            raise self.not_understood()

    def witness_key(self) -> VerifierKey | None:
        """The intake's witness key (type 0x04), or None if it is not a witness."""
        with talking(self.url):
            status, text = self._small("GET", "/witness/key", None, 1024)
        if status == 404:
            return None
        if not 200 <= status < 300:
            raise IntakeError(f"The intake at {self.url} refused the request ({status}).")
        try:
            key = VerifierKey.parse(text.strip())
        except SignedNoteError:
            raise self.not_understood() from None
        if key.key_type != COSIGNATURE_V1:
            raise self.not_understood()
        return key

    def add_checkpoint(self, old: int, proof: list[bytes], note: str) -> tuple[int, str]:
        """``POST /witness/add-checkpoint``: the status and the body, for the caller to judge."""
        lines = [f"old {old}", *(base64.b64encode(h).decode("ascii") for h in proof)]
        body = ("\n".join(lines) + "\n\n" + note).encode()
        with talking(self.url):
            status, text = self._small("POST", "/witness/add-checkpoint", body, 16 << 10)
        if status == 429:
            raise IntakeError("The intake is busy; try again in a minute.")
        return status, text

    def _small(self, method: str, path: str, body: bytes | None, cap: int) -> tuple[int, str]:
        """A request whose answer is short text: more than ``cap`` bytes is not understood."""
        with self._client.stream(method, self.url + path, content=body) as r:
            answer = bytearray()
            for piece in r.iter_raw(BLOB_PIECE):
                answer += piece
                if len(answer) > cap:
                    raise self.not_understood()
            try:
                return r.status_code, answer.decode("utf-8")
            except UnicodeDecodeError:
                raise self.not_understood() from None

    # --- plumbing ------------------------------------------------------------------------

    def _target(self, path: str) -> str:
        """The path (and query) as the intake sees it, which is what is signed."""
        return httpx.URL(self.url + path).raw_path.decode("ascii")

    def _post_json(self, path: str, doc: dict[str, Any]) -> dict[str, Any]:
        body = json.dumps(doc, separators=(",", ":")).encode()
        headers = sign_request(self._identity, "POST", self._target(path), body)
        headers["Content-Type"] = "application/json"
        with talking(self.url):
            r = self._client.post(self.url + path, content=body, headers=headers)
        self._check(r)
        try:
            answer = r.json()
        except (ValueError, UnicodeDecodeError):
            raise self.not_understood() from None
        if not isinstance(answer, dict):
            raise self.not_understood()
        return answer

    def _check(self, r: httpx.Response) -> None:
        if r.status_code == 401 and _error_field(r, "reason") == "clock":
            raise IntakeError(REFUSED_CLOCK, hint=CLOCK_HINT)  # not the key: exit 1
        if r.status_code == 401:
            raise WrongKeyError(
                REFUSED_KEY,
                hint="re-export the team key (vault team-key export FILE) and restart the intake"
                " with it",
            )
        if r.status_code == 429:
            raise IntakeError("The intake is busy; try again in a minute.")
        if r.status_code == 503 and _error_code(r) == "full":
            raise IntakeFullError(
                f"The disk of the intake at {self.url} is full, so it takes nothing new.",
                hint="tell whoever runs the intake; it needs more disk space",
            )
        if not 200 <= r.status_code < 300:
            raise IntakeError(f"The intake at {self.url} refused the request ({r.status_code}).")

    def not_understood(self) -> IntakeError:
        return IntakeError(
            f"The intake at {self.url} gave an answer this vault does not understand."
        )


def _error_code(r: httpx.Response) -> str | None:
    """The ``error`` of a short JSON error answer (``{"error": "full"}``), if it is one."""
    return _error_field(r, "error")


def _error_field(r: httpx.Response, name: str) -> str | None:
    """``name`` (``error``, or ``reason`` beside it) of a short JSON error answer."""
    try:
        body = r.read()
        doc = json.loads(body) if len(body) <= 1024 else None
    except (httpx.HTTPError, ValueError, UnicodeDecodeError):
        return None
    value = doc.get(name) if isinstance(doc, dict) else None
    return value if isinstance(value, str) else None


@contextmanager
def talking(url: str) -> Iterator[None]:
    """Turns any network failure into one plain sentence naming the intake."""
    try:
        yield
    except (httpx.RequestError, httpx.StreamError):
        raise IntakeError(f"Could not reach the intake at {url}.") from None


def pull(vault: Vault, url: str, *, client: httpx.Client | None = None) -> PullResult:
    """Fetch, store and acknowledge every waiting envelope and attachment, then deliver replies."""
    result = PullResult()
    with IntakeClient(url, vault.identity, client) as intake:
        # Reports kept because their team key had not reached this laptop, which it has since.
        reopened = incoming.reopen_quarantined(vault)
        result.imported += reopened.imported
        result.duplicates += reopened.duplicates
        result.failures.extend(
            (f"case {show_id(case_id)}", problem) for case_id, problem in reopened.mismatched
        )
        for pending in blobs.pending_blobs(vault):  # missed by an earlier pull
            problem = fetch_blob(vault, intake, pending)
            if problem is None:
                result.attachments_caught_up += 1
            elif isinstance(problem, AttachmentMismatchError):  # never right: said each time
                result.failures.append((f"case {show_id(pending.case_id)}", problem))
            else:
                result.attachments_missing += 1
        after: str | None = None
        # Reporters' messages wait beside the envelopes, in id order; each is taken once
        # every envelope is stored, so a message never arrives before its own report.
        messages: list[bytes] = []
        arrived: dict[str, str] = {}  # the day each message arrived on the intake, by id
        held = 0
        while True:
            items, more = intake.pull_page(after)
            if not items:
                break
            last = _last_id(items, intake)
            if after is not None and last <= after:
                raise IntakeError(
                    f"The intake at {intake.url} sent envelopes it had already sent,"
                    " so pulling stopped; what was pulled is stored."
                )
            after = last
            envelopes: list[tuple[str, bytes]] = []
            for item in items:
                label, body = _envelope_item(item, intake)
                if isinstance(body, VaultError):
                    result.failures.append((label, body))
                elif reporter_messages.is_message(body):
                    day = _arrival_day(item)
                    if reporter_messages.left_for_colleagues(vault, body, day):
                        result.messages_for_colleagues += 1  # not acknowledged
                    elif held + len(body) <= MESSAGE_BUDGET:
                        messages.append(body)
                        held += len(body)
                        if day is not None:
                            arrived[reporter_messages.message_id(body)] = day
                    else:  # not acknowledged: the next pull takes it
                        result.messages_waiting += 1
                else:
                    envelopes.append((label, body))
            batch = incoming.store_pulled(vault, envelopes)
            result.imported += batch.imported
            result.duplicates += batch.duplicates
            result.quarantined.update(reason for _, reason, _ in batch.quarantined)
            result.waiting_for_key += batch.waiting_for_key
            result.failures.extend(
                (f"case {show_id(case_id)}", problem) for case_id, problem in batch.mismatched
            )
            if batch.envelopes_held or batch.blobs_held:
                intake.ack(batch.envelopes_held, batch.blobs_held)
            for pending in batch.blobs_wanted:
                problem = fetch_blob(vault, intake, pending)
                if problem is not None:
                    result.failures.append((f"case {show_id(pending.case_id)}", problem))
            if not more:
                break
        if messages:
            taken = reporter_messages.take_pulled(vault, messages, arrived)
            result.answers, result.withdrawals = taken.answers, taken.withdrawals
            result.failures.extend(taken.refused)
            result.messages_for_colleagues += taken.for_colleagues
            for start in range(0, len(taken.held), PAGE_SIZE):
                intake.ack(taken.held[start : start + PAGE_SIZE], [])
        result.in_quarantine = incoming.quarantine_count(vault)
        try:
            result.replies_delivered = deliver_replies(vault, intake)
        except RepliesWait as waiting:
            result.replies_delivered = waiting.delivered
            result.replies_waiting = len(replies.queued_replies(vault)) + len(
                reporter_messages.queued_farewells(vault)
            )
            result.intake_full = waiting.error
        try:
            result.witnessed, result.witness_problem = witness_log(vault, intake)
        except IntakeError as e:
            result.witness_problem = f"the intake's witness did not answer as expected ({e})"
        except IntegrityError as e:
            result.witness_alarm = e
    return result


def witness_log(vault: Vault, intake: IntakeClient) -> tuple[int | None, str | None]:
    """Have the intake cosign the vault's newest checkpoint (c2sp.org/tlog-witness).

    Returns (size cosigned, None), or (None, why not) for problems that leave the log
    sound. A witness that has seen a longer or different history of this log is not a
    problem to note but a sign the log was rewound or rewritten: that raises.
    """
    key = intake.witness_key()
    if key is None:
        return None, "this intake does not witness access logs"
    known = auditing.witness(vault)
    if known is None:
        auditing.add_witness(vault, key, intake.url)
        old = 0
    elif known[0] != key:
        return None, (
            "the intake's witness key has changed since this vault first used it, so its"
            " cosignature was not asked for; if the intake was not rebuilt, tell your auditors"
        )
    else:
        old = known[2]
    head = auditing.log_head(vault)
    if head is None:
        return None, "the access log has no checkpoint yet"
    for _ in range(2):
        status, answer = intake.add_checkpoint(
            old, auditing.consistency_proof(vault, old, head.size), head.note
        )
        if status == 200:
            if auditing.record_cosignature(vault, key, head.size, answer) == 0:
                raise IntakeError(
                    f"The intake at {intake.url} sent a cosignature that is not valid."
                )
            return head.size, None
        if status == 409 and re.fullmatch(r"(0|[1-9][0-9]{0,19})\n", answer):
            seen = int(answer)
            if seen > head.size:
                lost = (
                    f"entry {seen}"
                    if seen == head.size + 1
                    else f"entries {head.size + 1} to {seen}"
                )
                raise IntegrityError(
                    f"The intake's witness has cosigned {seen} entries of this vault's access log,"
                    f" but the vault holds only {head.size}: the log here has lost {lost}"
                    " (it has been rolled back or damaged).",
                    hint="if this vault was restored from a backup, tell your auditors",
                )
            if seen != old:
                old = seen
                continue
            status = 422  # the same size with another root: a different history
        if status == 422:
            raise IntegrityError(
                "The intake's witness has seen a different history of this vault's access log:"
                " entries it cosigned have since been changed.",
                hint="tell your auditors; do not rely on this vault's log until they have checked",
            )
        if status in (403, 404):
            return None, (
                "the intake does not know this vault's access log; re-export the team key"
                " (vault team-key export FILE) and restart the intake with it"
            )
        break
    return None, f"the intake refused to cosign ({status})"


def fetch_blob(vault: Vault, intake: IntakeClient, pending: PendingBlob) -> VaultError | None:
    """Store one pending blob (its own transaction), then acknowledge it, then forget it.

    Returns the problem if the intake lacks it or sent it wrong; it stays pending.
    """
    problem = blobs.store_blob(vault, pending, lambda blob: intake.blob(blob, pending.length))
    if problem is None:
        intake.ack([], [pending.id])
        blobs.forget_pending(vault, pending)
    return problem


class RepliesWait(Exception):
    """The intake's disk filled while replies were pushed: those delivered, and why not more."""

    def __init__(self, delivered: int, error: IntakeFullError) -> None:
        super().__init__(str(error))
        self.delivered = delivered
        self.error = error


def deliver_replies(vault: Vault, intake: IntakeClient) -> int:
    """Push every queued reply, in batches, marking each batch delivered once the intake has it.

    If the intake's disk is full, raises :class:`RepliesWait`: the batches it took are
    marked delivered, the rest stay queued.
    """
    delivered = 0
    batch: list[QueuedReply] = []
    size = 0

    def push() -> None:
        nonlocal delivered
        try:
            intake.push_replies(batch)
        except IntakeFullError as error:
            raise RepliesWait(delivered, error) from None
        replies.mark_delivered(vault, [r.id for r in batch])
        delivered += len(batch)

    for reply in replies.queued_replies(vault):
        batch.append(reply)
        size += len(reply.body) * 4 // 3 + 100
        if size >= REPLY_BATCH_BYTES or len(batch) >= REPLY_BATCH_COUNT:
            push()
            batch, size = [], 0
    if batch:
        push()
    # The last replies to reporters whose cases were erased: few, and sealed like replies.
    farewells = reporter_messages.queued_farewells(vault)
    if farewells:
        try:
            intake.push_replies(farewells)
        except IntakeFullError as error:
            raise RepliesWait(delivered, error) from None
        reporter_messages.mark_farewells_delivered(vault, [f.id for f in farewells])
        delivered += len(farewells)
    return delivered


def _envelope_item(item: object, intake: IntakeClient) -> tuple[str, bytes | VaultError]:
    """An item of a pull page as ``(label, envelope)``, or the problem with it."""
    if not isinstance(item, dict) or not isinstance(item.get("id"), str):
        raise intake.not_understood()
    given = item["id"]
    label = f"envelope {given[:12]}"
    try:
        body = base64.b64decode(item.get("body", ""), validate=True)
    except (binascii.Error, ValueError, TypeError):
        return label, IntakeError("The intake sent this envelope damaged; it was left there.")
    if envelope_id(body).hex() != given:
        return label, IntakeError(
            "The intake sent this envelope under the wrong id; it was left there."
        )
    return label, body


def _arrival_day(item: object) -> str | None:
    """The day a reporter's message arrived on the intake, as the pull gives it (an intake
    from before it did gives none)."""
    day = item.get("received") if isinstance(item, dict) else None
    return day if isinstance(day, str) else None


def _last_id(items: list[Any], intake: IntakeClient) -> str:
    """The page's last envelope id: the cursor for the next page."""
    last = items[-1]
    if not isinstance(last, dict) or not isinstance(last.get("id"), str):
        raise intake.not_understood()
    if not _ENVELOPE_ID.fullmatch(last["id"]):
        raise intake.not_understood()
    return str(last["id"])
