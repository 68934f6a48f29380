"""The readable document in a complaint pack: a PDF made with fpdf2 from what the caseworker
chose to include, in plain words.

The text is set in DejaVu Sans (the copy matplotlib ships, so it is on every machine the
vault installs on), which covers Latin, Greek, Cyrillic and many other alphabets; were it
missing, the built-in Helvetica would be used. Text is not shaped: Arabic or Hebrew come out
as separate letters, left to right, and may read poorly (the original stays in the vault).

The PDF's own metadata says only its title and the day it was made (midnight UTC), never an
author, a time of day or the case's content beyond what the pages show.

A character the font cannot draw (Chinese, for example) is shown as ``?``, and the PDF then
says so in a line at its end: the casework team holds the original text.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # fpdf2 takes a third of a second to import: only a pack export needs it
    from fpdf import FPDF

TITLE = "Complaint pack"


@dataclass(frozen=True, slots=True)
class DocumentNote:
    author: str
    day: str
    text: str = field(repr=False)


@dataclass(frozen=True, slots=True)
class ComplaintDocument:
    """Everything the PDF shows. Holds report text: keep it in memory."""

    case: str  # as people see it, 7KQ2-M9XD
    made: str  # YYYY-MM-DD
    made_by: str
    fields: tuple[tuple[str, str], ...] = field(repr=False)  # (label, value)
    attachments: tuple[str, ...] = field(repr=False)  # one line each
    notes: tuple[DocumentNote, ...] | None = field(default=None, repr=False)  # None: not asked


def _font_folder() -> Path | None:
    spec = importlib.util.find_spec("matplotlib")
    if spec is None or spec.origin is None:
        return None
    folder = Path(spec.origin).parent / "mpl-data" / "fonts" / "ttf"
    return folder if (folder / "DejaVuSans.ttf").is_file() else None


def _drawable(pdf: FPDF, key: str) -> set[int]:
    """The characters (code points) an added TrueType font has glyphs for."""
    from fpdf.fonts import TTFFont

    font = pdf.fonts[key]
    return set(font.cmap) if isinstance(font, TTFFont) else set(range(256))


def render_pdf(doc: ComplaintDocument) -> bytes:
    """The PDF's bytes (nothing is written here)."""
    from fpdf import FPDF
    from fpdf.enums import XPos, YPos

    pdf = FPDF(format="A4")
    pdf.set_title(TITLE)
    pdf.set_creation_date(datetime.fromisoformat(doc.made).replace(tzinfo=UTC))
    pdf.set_auto_page_break(auto=True, margin=18)
    fonts = _font_folder()
    missing: list[str] = []
    if fonts is not None:
        pdf.add_font("body", "", str(fonts / "DejaVuSans.ttf"))
        pdf.add_font("body", "B", str(fonts / "DejaVuSans-Bold.ttf"))
        family = "body"
        shown = _drawable(pdf, "body") & _drawable(pdf, "bodyB")

        def fit(text: str) -> str:
            out = "".join(c if ord(c) in shown or c in "\n\t" else "?" for c in text)
            if out != text:
                missing.append("?")
            return out
    else:  # pragma: no cover - matplotlib always ships its fonts
        family = "helvetica"

        def fit(text: str) -> str:
            out = text.encode("latin-1", "replace").decode("latin-1")
            if out != text:
                missing.append("?")
            return out

    pdf.add_page()
    width = pdf.epw

    def heading(text: str, size: int = 13) -> None:
        pdf.set_font(family, "B", size)
        pdf.multi_cell(width, 8, fit(text), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        pdf.ln(1)

    def paragraph(text: str, style: str = "") -> None:
        pdf.set_font(family, style, 11)
        pdf.multi_cell(width, 6, fit(text), new_x=XPos.LMARGIN, new_y=YPos.NEXT, align="L")

    heading(f"Complaint pack: case {doc.case}", 16)
    paragraph(
        f"Prepared by {doc.made_by} of the casework team on {doc.made}, from the report"
        " the person who was harmed sent us, with their request for help with a complaint."
    )
    pdf.ln(4)
    heading("The report")
    for label, value in doc.fields:
        paragraph(label, "B")
        paragraph(value)
        pdf.ln(2)
    pdf.ln(2)
    heading("Attachments")
    if doc.attachments:
        for line in doc.attachments:
            paragraph(line)
            pdf.ln(1)
    else:
        paragraph("The report came with no attachments.")
    if doc.notes is not None:
        pdf.ln(3)
        heading("Caseworkers' notes")
        if not doc.notes:
            paragraph("There are no notes on this case.")
        for note in doc.notes:
            paragraph(f"{note.author}, {note.day}", "B")
            paragraph(note.text)
            pdf.ln(2)
    pdf.ln(3)
    pdf.set_font(family, "", 9)
    if missing:
        pdf.multi_cell(
            width,
            5,
            "Some characters of the original are shown here as ?, because this document's"
            " font cannot draw them; the casework team holds the original text.",
            new_x=XPos.LMARGIN,
            new_y=YPos.NEXT,
            align="L",
        )
        pdf.ln(2)
    pdf.multi_cell(
        width,
        5,
        "This pack comes with a signed list of its files (manifest.json, manifest.sig)."
        " Anyone with the team's published key can check that nothing in it was changed:"
        " vault export verify FOLDER --team-key FILE.",
        new_x=XPos.LMARGIN,
        new_y=YPos.NEXT,
        align="L",
    )
    return bytes(pdf.output())
