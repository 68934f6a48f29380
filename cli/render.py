"""How things look to people: rich tables and panels, and JSON for scripts."""

from __future__ import annotations

import json
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from vault.cases import show_id
from vault.store import CaseSummary, CaseView

out = Console(highlight=False, soft_wrap=False)


def print_json(value: Any) -> None:
    print(json.dumps(value, ensure_ascii=False, indent=2))


def case_table(cases: list[CaseSummary], total: int) -> None:
    if not cases:
        out.print("No cases." if total == 0 else "No cases match.")
        return
    table = Table(show_edge=False, header_style="bold")
    for column in ("id", "status", "received", "assignee", "outcome"):
        table.add_column(column)
    for case in cases:
        table.add_row(
            show_id(case.id),
            case.status,
            case.received,
            Text(case.assignee or "-"),
            case.outcome or "",
        )
    out.print(table)
    if total > len(cases):
        out.print(
            f"Showing the newest {len(cases)} of {total} cases. "
            "Use --limit N, --all or --status to see others."
        )


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


def case_view(view: CaseView) -> None:
    s = view.summary
    report = view.report
    out.print(Text(f"Case {show_id(s.id)}", style="bold"))
    out.print(
        Text(
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
        out.print(Text.assemble((f"{label}: ", "bold"), shown))
    if report.contact is not None:
        out.print(
            Text.assemble(("Contact: ", "bold"), f"{report.contact.method} {report.contact.value}")
        )
    consent = [
        k for k, v in (("alert", report.consent.alert), ("research", report.consent.research)) if v
    ]
    out.print(
        Text.assemble(("Consents to: ", "bold"), ", ".join(consent) or "nothing beyond casework")
    )
    if report.reply_key:
        out.print(Text("The reporter can receive replies by codename."))
    if report.attachments:
        out.print(Text(f"Attachments: {len(report.attachments)}"))
    out.print()
    out.print(Text("What happened", style="bold"))
    out.print(Text(report.what_happened))
    out.print()
    if view.notes:
        out.print(Text("Notes", style="bold"))
        for note in view.notes:
            out.print(Text.assemble((f"{note.at} {note.author}: ", "dim"), note.text))
        out.print()
    out.print(Text("History", style="bold"))
    for entry in view.history:
        detail = f" {entry.detail}" if entry.detail else ""
        out.print(Text(f"{entry.at}  {entry.actor}  {entry.action}{detail}"))
