"""How things look to people: rich tables and panels, and JSON for scripts."""

from __future__ import annotations

import json
from typing import Any

from babel import Locale, UnknownLocaleError
from rich.console import Console
from rich.table import Table
from rich.text import Text

from vault.auditors import Auditor
from vault.case_view import CaseSummary, CaseView
from vault.cases import show_id
from vault.membership import Caseworker

out = Console(highlight=False, soft_wrap=False)


def unwrap_unless_terminal() -> None:
    """A sentence printed to a pipe or file stays on one line, whatever its length: scripts
    (and anyone checking the words the docs quote) read it whole. On a terminal, rich wraps it
    to the width as before; tables are drawn to the width either way."""
    out.soft_wrap = not out.is_terminal


ID_WIDTH = len("7KQ2-M9XD")  # a case or alert id as shown: a table column never cuts it short

# Report text comes from anyone who has the team public key: never let it drive the terminal.
_CONTROL = {
    c: "\ufffd"
    for c in [
        *range(0x00, 0x20),
        0x7F,
        *range(0x80, 0xA0),
        # Direction embeddings, overrides and isolates can reorder what a line shows.
        # (Joiners and direction marks stay: Arabic, Hebrew and Indic text need them.)
        *range(0x202A, 0x202F),
        *range(0x2066, 0x206A),
    ]
    if c not in (0x09, 0x0A)
}


def plain_safe(text: str) -> str:
    """A string with control and direction-changing characters made harmless."""
    return text.translate(_CONTROL)


def safe(text: str) -> Text:
    """Text for the terminal with control characters (escape sequences included) made harmless."""
    return Text(plain_safe(text))


def print_json(value: Any) -> None:
    # ASCII-only JSON: every control character in report text arrives escaped.
    print(json.dumps(value, ensure_ascii=True, indent=2))


def json_lines(items: list[dict[str, Any]]) -> str:
    """A JSON array with one object per line: readable, and written by the fast C encoder."""
    encode = json.JSONEncoder(ensure_ascii=True).encode
    return "[\n" + ",\n".join(map(encode, items)) + "\n]" if items else "[]"


def print_json_lines(items: list[dict[str, Any]]) -> None:
    print(json_lines(items))


def case_table(cases: list[CaseSummary], total: int, *, filtered: bool = False) -> None:
    """Cases as a table; ``total`` is how many the filters take (``filtered``: some were set)."""
    if not cases:
        out.print("No cases match." if filtered or total else "No cases.")
        return
    table = Table(show_edge=False, header_style="bold")
    # The id, status and day are never cut short on a narrow terminal (the id is what the
    # next command takes); the other columns give way.
    table.add_column("id", no_wrap=True, min_width=ID_WIDTH)
    table.add_column("status", min_width=len("supporting"))
    table.add_column("received", no_wrap=True, min_width=len("YYYY-MM-DD"))
    for column in ("assignee", "sector", "harms", "wants", "outcome"):
        table.add_column(column)
    for case in cases:
        table.add_row(
            show_id(case.id),
            case.status + (" *" if case.withdrawal_requested else ""),
            case.received,
            safe(case.assignee or "-"),
            case.sector or "?",
            ", ".join(case.harms),
            ", ".join(case.wants),
            case.outcome or "",
        )
    out.print(table)
    if any(case.withdrawal_requested for case in cases):
        out.print(
            "* The reporter asked for the report to be withdrawn and erased"
            " (vault cases erase ID --reason withdrawn)."
        )
    if total > len(cases):
        out.print(
            f"Showing the newest {len(cases)} of {total} cases. "
            "Use --limit N, --all or the filters (--status, --sector, ...) to see others."
        )


def caseworker_table(people: list[Caseworker]) -> None:
    """The vault's caseworkers, present and past; names come from key files: made harmless."""
    table = Table(show_edge=False, header_style="bold")
    for column in ("name", "key id", "added", "removed"):
        table.add_column(column)
    for person in people:
        table.add_row(safe(person.name), person.key_id, person.added, person.revoked or "")
    out.print(table)
    current = sum(1 for p in people if p.revoked is None)
    gone = len(people) - current
    removed = f"; {gone} removed" if gone else ""
    out.print(f"{current} caseworker{'s' if current != 1 else ''} can open this vault{removed}.")


def auditor_table(people: list[Auditor]) -> None:
    if not people:
        out.print("No auditors yet: vault auditor add NAME --key FILE registers one.")
        return
    table = Table(show_edge=False, header_style="bold")
    for column in ("name", "key id", "added"):
        table.add_column(column)
    for person in people:
        table.add_row(safe(person.name), person.key_id, person.added)
    out.print(table)


FIELD_LABELS = (
    ("sector", "Sector"),
    ("role", "Role of the professional"),
    ("organisation", "Organisation"),
    ("professional_identifier", "Name or number"),
    ("harms", "What kind of harm"),
    ("when", "When"),
    ("where", "Where"),
    ("wants", "What they want"),
)


def language_name(tag: str) -> str:
    """A report's language for a caseworker: "Thai (th)", or the tag alone if unknown."""
    if tag.lower().startswith(("und", "x-", "i-")):  # "undetermined" or private: no name
        return tag
    try:
        name = Locale.parse(tag.replace("-", "_")).get_display_name("en")
    except (ValueError, TypeError, UnknownLocaleError):
        name = None
    return f"{name} ({tag})" if name else tag


def case_view(view: CaseView) -> None:
    s = view.summary
    report = view.report
    out.print(Text(f"Case {show_id(s.id)}", style="bold"))
    out.print(
        safe(
            f"status {s.status}   received {s.received}   assignee {s.assignee or '-'}"
            + (f"   outcome {s.outcome}" if s.outcome else "")
        )
    )
    out.print()
    data = report.model_dump(mode="json", exclude_none=True)
    for key, label in FIELD_LABELS:
        value = data.get(key)
        if value in (None, []):
            continue
        shown = ", ".join(value) if isinstance(value, list) else str(value)
        out.print(Text.assemble((f"{label}: ", "bold"), safe(shown)))
    if report.contact is not None:
        out.print(
            Text.assemble(
                ("Contact: ", "bold"), safe(f"{report.contact.method} {report.contact.value}")
            )
        )
    consent = [
        k for k, v in (("alert", report.consent.alert), ("research", report.consent.research)) if v
    ]
    out.print(
        Text.assemble(("Consents to: ", "bold"), ", ".join(consent) or "nothing beyond casework")
    )
    if report.language:
        out.print(Text.assemble(("Reporter's language: ", "bold"), language_name(report.language)))
    if report.reply_key:
        answers = " and answer them" if report.reply_signing_key else ""
        out.print(Text(f"The reporter can receive replies by codename{answers}."))
    if s.withdrawal_requested:
        out.print(
            Text(
                "The reporter has asked for this report to be withdrawn and erased"
                f" (vault cases erase {show_id(s.id)} --reason withdrawn).",
                style="bold",
            )
        )
    if report.attachments:
        out.print(Text("Attachments", style="bold"))
        for a in view.attachments:
            held = "" if a.held else "  (not received from the intake)"
            out.print(safe(f"  {a.n}. {a.name}  {a.type}, {a.size} bytes{held}"))
        out.print(Text(f"  To open one: vault cases attachment {show_id(s.id)} N --out FILE"))
    out.print()
    out.print(Text("What happened", style="bold"))
    out.print(safe(report.what_happened))
    out.print()
    if view.notes:
        out.print(Text("Notes", style="bold"))
        for note in view.notes:
            out.print(Text.assemble((f"{note.at} {note.author}: ", "dim"), safe(note.text)))
        out.print()
    if view.conversation:
        out.print(Text("Conversation with the reporter", style="bold"))
        replies = iter(view.replies)  # the same replies, in the same order
        for turn in view.conversation:
            if turn.speaker == "caseworker":
                reply = next(replies)
                sent = "delivered" if reply.delivered else "waiting for vault pull"
                status = f", shared status {reply.shared_status}" if reply.shared_status else ""
                who = f"{turn.at} {turn.author} to the reporter ({sent}{status}): "
                out.print(Text.assemble((who, "dim"), safe(turn.text or "")))
            elif turn.kind == "answer":
                who = f"{turn.at} the reporter answered: "
                out.print(Text.assemble((who, "dim"), safe(turn.text or "")))
            else:
                out.print(
                    Text.assemble(
                        (f"{turn.at} the reporter: ", "dim"),
                        ("asked for this report to be withdrawn and erased", "bold"),
                    )
                )
        out.print()
    also = view.also_named
    if also.cases:
        same = f" ({len(also.same)} by the same register or police number)" if also.same else ""
        n = len(also.cases)
        out.print(
            Text.assemble(
                (f"Also named in {n} other case{'s' if n != 1 else ''}{same}: ", "bold"),
                ", ".join(show_id(c) for c in also.cases),
            )
        )
    if also.damaged:
        out.print(
            f"{len(also.damaged)} other case{'s' if len(also.damaged) != 1 else ''} could not be"
            f" read (damaged): {', '.join(show_id(c) for c in also.damaged)}"
        )
    if also.cases or also.damaged:
        out.print()
    out.print(Text("History", style="bold"))
    for entry in view.history:
        detail = f" {entry.detail}" if entry.detail else ""
        out.print(safe(f"{entry.at}  {entry.actor}  {entry.action}{detail}"))
    for conflict in view.conflicts:  # changes made apart on different laptops (docs/sync.md)
        out.print()
        out.print(Text(f"Conflict: the {conflict.field} was changed apart", style="bold"))
        for change in conflict.entries:
            mark = "  (stands)" if change.stands else ""
            out.print(safe(f"{change.at}  {change.actor}  set it to {change.value}{mark}"))
