"""Passphrases: a type that never shows itself, and the strength every new one must have.

A :class:`Passphrase` travels from the prompt (or the passphrase file) to the key
derivation without ever being printed: ``repr`` and ``str`` hide it, and only an explicit
:meth:`~Passphrase.reveal` gives the bytes.

Every new passphrase (a new vault, a new caseworker, a changed passphrase, a restore with
recovery shares) must be one that zxcvbn estimates takes at least ``10**MIN_GUESSES_LOG10``
guesses: zxcvbn's top score, "strong protection from an offline slow-hash attack". Six or
more random words pass easily; ``password``, a name, a date or a keyboard walk do not.
Opening a vault never checks strength: an old passphrase keeps working until it is changed.
"""

from __future__ import annotations

from vault._crypto import SecretBytes
from vault.errors import WeakPassphraseError

#: zxcvbn's score 4 starts at 10**10 estimated guesses.
MIN_GUESSES_LOG10 = 10
#: zxcvbn refuses longer input (and slows down on it); the first 72 characters are judged.
_JUDGED_CHARS = 72
#: Words anyone attacking a Redress vault would try first.
_OBVIOUS = ("redress", "vault", "caseworker", "passphrase", "password")


class Passphrase(SecretBytes):
    """A caseworker's passphrase: ``repr`` and ``str`` never show it; :meth:`reveal` does."""

    __slots__ = ()

    def __init__(self, value: bytes) -> None:
        super().__init__(value, "passphrase")

    def __repr__(self) -> str:
        return "<Passphrase: hidden>"

    __str__ = __repr__


def check_strength(passphrase: Passphrase, *, name: str | None = None) -> None:
    """Refuse a new passphrase that is too easy to guess (:class:`WeakPassphraseError`).

    ``name`` is the caseworker it is for: a passphrase built from their own name is weak.
    The message says why (zxcvbn's warning, which never quotes the passphrase).
    """
    text = passphrase.reveal().decode("utf-8", "replace")[:_JUDGED_CHARS]
    hints = [*_OBVIOUS, *([name] if name else [])]
    # imported here: only a new passphrase is judged, and its word lists cost every other
    # command (and the intake) about 25 ms at start-up
    from zxcvbn import zxcvbn

    result = zxcvbn(text, user_inputs=hints)
    if float(result["guesses_log10"]) >= MIN_GUESSES_LOG10:
        return
    warning = str(result.get("feedback", {}).get("warning") or "").strip().rstrip(".")
    why = f" ({warning[0].lower()}{warning[1:]})" if warning else ""
    raise WeakPassphraseError(f"That passphrase is too easy to guess{why}; nothing was changed.")


__all__ = ["MIN_GUESSES_LOG10", "Passphrase", "check_strength"]
