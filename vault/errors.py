"""Every error a caseworker can meet, each with the sentence they read.

The library raises these and never prints or exits. The CLI has one handler
that prints ``str(error)`` (and the hint, if any) on stderr and exits with
``error.exit_code``. Messages never carry report text, passphrases, keys or
the paths of secret files beyond the vault directory the user named.
"""

from __future__ import annotations

# Exit codes from the contract.
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_WRONG_KEY = 3
EXIT_INTEGRITY = 4


class VaultError(Exception):
    """Something went wrong."""

    exit_code = EXIT_FAILED
    hint: str | None = None

    def __init__(self, message: str | None = None, *, hint: str | None = None) -> None:
        super().__init__(message or (self.__doc__ or "").strip())
        if hint is not None:
            self.hint = hint


class UsageError(VaultError):
    """The command was used in a way that cannot work."""

    exit_code = EXIT_USAGE


class WeakPassphraseError(UsageError):
    """That passphrase is too easy to guess."""

    hint = "choose six or more random words (a dice word list is a good way to pick them)"


class NoVaultError(VaultError):
    """There is no vault here."""


class VaultExistsError(VaultError):
    """There is already a vault here."""


class UnsafePermissionsError(VaultError):
    """The vault's files can be read by other users of this computer."""


class WrongPassphraseError(VaultError):
    """Wrong passphrase for this key file."""

    exit_code = EXIT_WRONG_KEY


class WrongKeyError(VaultError):
    """This vault holds no key that opens it."""

    exit_code = EXIT_WRONG_KEY


class NotAKeyFileError(VaultError):
    """That file is not a Redress key file."""


class NewerKeyFileError(VaultError):
    """That key file was made by a newer version of Redress."""

    hint = "update Redress on this laptop"


class DiskFullError(VaultError):
    """The disk holding the vault is full."""

    hint = "free some space on that disk, then run the command again; nothing was half-written"


class DiskError(VaultError):
    """The vault's database could not be read or written: the disk reported an error."""

    hint = "check the disk (and that it is still connected), then run the command again"


class IntegrityError(VaultError):
    """Something in the vault has been damaged or changed."""

    exit_code = EXIT_INTEGRITY


class DatabaseDamagedError(IntegrityError):
    """The vault's database is damaged: part of it fails its integrity checks."""

    hint = "restore the vault from your latest backup: vault restore FILE --vault DIR"


class LogRolledBackError(IntegrityError):
    """The access log has lost entries that were committed."""

    hint = (
        "copy the vault folder somewhere safe as it is, restore your latest backup into a new"
        " folder (vault restore FILE --vault DIR), and tell your auditors"
    )


class EnvelopeError(IntegrityError):
    """That envelope is damaged, or is not a Redress report envelope."""


class BackupHeaderError(IntegrityError):
    """This backup's header is damaged or has been changed."""


class ForeignEnvelopeError(VaultError):
    """That envelope was sealed to a team key this vault does not hold."""

    exit_code = EXIT_WRONG_KEY


class InvalidReportError(VaultError):
    """The report is not valid."""


class CaseNotFoundError(VaultError):
    """No case has that id."""


class CaseErasedError(VaultError):
    """That case was erased: only its tombstone is left."""

    def __init__(self, message: str, *, tombstone: object = None) -> None:
        super().__init__(message)
        self.tombstone = tombstone  # a vault.tombstones.Tombstone: dates, outcome, reason


class CaseWorkflowError(VaultError):
    """That change is not allowed for this case."""


class IntakeError(VaultError):
    """The intake could not be reached, or did not answer as expected."""


class IntakeFullError(IntakeError):
    """The disk holding the intake's inbox is full: it takes nothing new until there is room."""


class PortInUseError(VaultError):
    """That port is in use by another program."""

    def __init__(self, message: str, *, port: int, suggestion: int | None) -> None:
        super().__init__(message)
        self.port = port
        self.suggestion = suggestion


class AttachmentUnavailableError(VaultError):
    """The intake does not hold that attachment (any more)."""


class AttachmentMismatchError(IntegrityError):
    """A report names an attachment that is not the file its reporter's browser sealed."""


class NoReplyKeyError(VaultError):
    """This reporter did not take a codename, so there is no way to reply."""


class NoComplaintHelpAskedError(VaultError):
    """The reporter did not ask for help with a complaint, so no complaint pack is made."""

    hint = "a complaint pack is only for a reporter who asked for complaint help (see cases show)"


class PackChangedError(IntegrityError):
    """This complaint pack has been changed since it was made, so it cannot be trusted."""


class MessageRefused(VaultError):
    """That is not a reporter message the intake can relay."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason  # what the intake answers: "too-large", "malformed", "bad-signature"


class ForgedMessageError(IntegrityError):
    """A reporter message is damaged or its signature does not check; it was refused."""


class UnknownReporterError(VaultError):
    """A reporter message is signed by a codename no case in this vault has; it was refused."""
