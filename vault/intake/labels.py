"""The words a reporter reads for every choice on the form, in one place.

Values are the report contract (``vault/report.py``); labels are plain English in
the reporter's own terms, marked N_() and translated where they are shown. The form,
its no-JavaScript path and the tests all take them from here.
"""

from __future__ import annotations

from vault.intake.languages import N_
from vault.report import HARMS, SECTORS, WANTS, ContactMethod

Choices = tuple[tuple[str, str], ...]

SECTORS_LABELLED: Choices = (
    ("policing", N_("Police")),
    ("healthcare", N_("Health care, for example a GP, nurse, hospital or mental health service")),
    ("housing", N_("Housing, for example a council or housing officer")),
    ("education", N_("Education, for example a school, college or university")),
    ("support-services", N_("A support service, for example a support or outreach worker")),
    ("other", N_("Somewhere else")),
)

HARMS_LABELLED: Choices = (
    ("racial-discrimination", N_("Treated worse because of my race or ethnicity")),
    ("violence", N_("Hurt, attacked or physically threatened")),
    ("sexual-violence", N_("Sexually assaulted, abused or harassed")),
    ("refusal-of-service", N_("Refused help or a service I needed")),
    ("abuse-of-power", N_("Pressured or threatened by someone using their job or power")),
    ("outing", N_("Outed: people were told I do sex work without my agreement")),
    ("verbal-abuse", N_("Shouted at, insulted or humiliated")),
    ("other", N_("Something else")),
)

WANTS_LABELLED: Choices = (
    ("support", N_("Support for me from a caseworker")),
    (
        "complaint-help",
        N_(
            "Help to make a complaint, for example to PALS, an ombudsman, "
            "the IOPC, the GMC or the NMC"
        ),
    ),
    ("share-alert", N_("Warn other sex workers with an anonymous alert")),
    ("nothing", N_("Nothing for now: I just want you to know")),
)

# The form asks about an alert once, in "Can we use what you tell us?": ticking it gives
# both consent.alert and the want "share-alert" (vault/intake/nojs.py, static/form.js). So
# the wants question leaves that choice out.
ALERT_WANT = "share-alert"
WANTS_ASKED: list[tuple[str, str]] = [(v, label) for v, label in WANTS_LABELLED if v != ALERT_WANT]

CONTACT_METHODS_LABELLED: Choices = (
    ("email", N_("Email")),
    ("phone", N_("Phone call")),
    ("text", N_("Text message")),
    ("whatsapp", N_("WhatsApp")),
    ("signal", N_("Signal")),
    ("post", N_("Post")),
    ("other", N_("Another way")),
)

CONTACT_METHODS: tuple[str, ...] = ContactMethod.__args__  # type: ignore[attr-defined]


def choices() -> dict[str, list[tuple[str, str]]]:
    """The ``choices`` every page template receives."""
    return {
        "sectors": list(SECTORS_LABELLED),
        "harms": list(HARMS_LABELLED),
        "wants": list(WANTS_LABELLED),
        "contact_methods": list(CONTACT_METHODS_LABELLED),
    }


def _check(labelled: Choices, values: tuple[str, ...]) -> None:
    if tuple(v for v, _ in labelled) != values:
        raise RuntimeError("the form's labels do not match the report's choices")


# Fail at import, not in front of a reporter, if the report's choices change.
_check(SECTORS_LABELLED, SECTORS)
_check(HARMS_LABELLED, HARMS)
_check(WANTS_LABELLED, WANTS)
_check(CONTACT_METHODS_LABELLED, CONTACT_METHODS)
