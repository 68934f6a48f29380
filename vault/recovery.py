"""k-of-n recovery: a recovery key split into SLIP-39 word shares, and opening a vault with them.

``split`` draws a random 32-byte **recovery secret** and splits it into N shares of 33
words, any K of which give it back (SLIP-39, the ``shamir-mnemonic`` package; fewer than
K reveal nothing about it). From the secret come a recovery identity's keys (each
derivation named by its purpose), and the vault keeps:

* ``recovery.pub``: the recovery identity's public keys, signed by a current caseworker;
* ``recovery.access``: the database key and every team key sealed to the recovery
  identity, exactly like a caseworker's access file. Every key change rewraps it (see
  :mod:`vault.keychange`), so shares keep opening every epoch.

``restore`` takes K shares, opens the vault with ``recovery.access`` when every
passphrase is lost, and makes a new caseworker identity with its own passphrase.
"""

from __future__ import annotations

import contextlib
import re
from dataclasses import dataclass
from pathlib import Path

import shamir_mnemonic
from shamir_mnemonic.share import Share

from vault import _crypto, team_clock
from vault._crypto import SecretBytes
from vault.errors import EXIT_WRONG_KEY, UsageError, VaultError, WrongKeyError
from vault.files import (
    check_private_tree,
    create_private_file,
    fsync_dir,
    make_private_dir,
    read_small_file,
    replace_private_file,
)
from vault.keychange import (
    RECOVERY_ACCESS,
    RECOVERY_NAME,
    RECOVERY_PUBLIC,
    access_path,
    access_writer,
    locked,
    open_access,
    recovery_public_bytes,
    require_current,
)
from vault.keys import (
    DEFAULT_KDF,
    Identity,
    KdfParams,
    caseworker_key_id,
    lock_identity,
    validate_name,
    wrap_access,
)
from vault.passphrase import Passphrase, check_strength
from vault.store import CASEWORKERS_DIR, DB_FILE, Vault, today

SECRET_BYTES = 32
MAX_SHARES = 16
WORDS_START = "--- words ---"
WORDS_END = "--- end of words ---"


class RecoveryShareError(VaultError):
    """A recovery share could not be read."""

    exit_code = EXIT_WRONG_KEY


def recovery_identity(secret: SecretBytes) -> Identity:
    """The recovery identity's keys, derived from the recovery secret (each by its purpose)."""
    raw = secret.reveal()
    sign_seed = _crypto.tagged_hash("redress recovery signing key v1", raw)
    box_sk = _crypto.tagged_hash("redress recovery x25519 key v1", raw)
    return Identity.from_secrets(
        RECOVERY_NAME,
        SecretBytes(sign_seed, "recovery signing seed"),
        SecretBytes(box_sk, "recovery x25519 key"),
    )


def recovery_key_id(identity: Identity) -> str:
    return caseworker_key_id(identity.public.sign_pk)


@dataclass(frozen=True, slots=True)
class Split:
    key_id: str
    files: tuple[Path, ...]


def _share_text(
    n: int, count: int, threshold: int, key_id: str, words: str, holder: str | None
) -> str:
    numbered = words.split()
    rows = []
    for i in range(0, len(numbered), 4):
        rows.append(
            "  ".join(f"{j + 1:>2}. {w:<10}" for j, w in enumerate(numbered[i : i + 4], i)).rstrip()
        )
    lines = [
        "REDRESS RECOVERY SHARE",
        "",
        f"Share {n} of {count}. Any {threshold} shares together open the vault;",
        f"fewer than {threshold} reveal nothing.",
        f"Recovery key id: {key_id}     Made: {today()}",
        "",
        f"Holder: {holder}" if holder else "Holder: ____________________________________",
        "",
        "Kept at: ___________________________________",
        "",
        WORDS_START,
        *rows,
        WORDS_END,
        "",
        "What to do with this paper:",
        "- Print it, check the words against the screen, then delete the file.",
        "- Keep the paper somewhere private, away from the laptop and from the other shares.",
        "- Never photograph it, type it into a website, or send it by email or messenger.",
        "- If it is lost or seen by someone else, tell the team lead: new shares will be made.",
        "- To use it, see 'A forgotten passphrase' in keys/README.md (vault recovery restore).",
        "",
    ]
    return "\n".join(lines)


def split(
    vault: Vault, shares: int, threshold: int, out: Path, holders: list[str] | None = None
) -> Split:
    """Make new recovery shares (replacing any older ones) and write them as 0600 files in ``out``.

    ``holders`` names who keeps each share (one name per share, in order): the name is
    printed on the share and put in its file name.

    Older shares stop opening the vault's future keys at once: ``recovery.access`` is
    rewrapped to the new recovery key. (They still open backups made before.)
    """
    if not 2 <= threshold <= shares <= MAX_SHARES:
        raise UsageError(
            f"Choose a threshold of at least 2 and no more than the number of shares"
            f" (at most {MAX_SHARES})."
        )
    if holders and len(holders) != shares:
        raise UsageError(f"Name one holder for each of the {shares} shares, or none.")
    names = [validate_name(h) for h in holders] if holders else [None] * shares
    secret = SecretBytes(_crypto.random_bytes(SECRET_BYTES), "recovery secret")
    identity = recovery_identity(secret)
    key_id = recovery_key_id(identity)
    groups = shamir_mnemonic.generate_mnemonics(
        group_threshold=1, groups=[(threshold, shares)], master_secret=secret.reveal()
    )
    make_private_dir(out)
    files = [
        out / f"recovery-share-{n}-of-{shares}{'-' + h if h else ''}.txt"
        for n, h in enumerate(names, 1)
    ]
    taken = [f for f in files if f.exists()]
    if taken:
        raise UsageError(f"{taken[0]} already exists; choose an empty folder for the shares.")
    replaced = False
    try:
        for n, (path, words, holder) in enumerate(zip(files, groups[0], names, strict=True), 1):
            text = _share_text(n, shares, threshold, key_id, words, holder)
            create_private_file(path, text.encode())
        directory = vault.directory
        with locked(directory):
            require_current(vault.access, vault.db)
            public = recovery_public_bytes(identity.public, threshold, shares, vault.identity)
            access = wrap_access(vault.access, identity.public, vault.identity)
            with vault.transaction() as db:
                vault.log_action(
                    db, "recovery-split", subject=key_id, commit=identity.public.box_pk
                )
            # Only once the split is recorded are the old shares retired: until then a
            # failure leaves the old shares working and the new files are removed below.
            replaced = True
            for stale in directory.glob(f"{RECOVERY_ACCESS}.next-*"):
                stale.unlink()
            replace_private_file(directory / RECOVERY_PUBLIC, public)
            replace_private_file(directory / RECOVERY_ACCESS, access)
    except BaseException:
        if not replaced:
            for path in files:
                path.unlink(missing_ok=True)
        raise
    return Split(key_id, tuple(files))


# --- reading shares -------------------------------------------------------------------


def words_of(text: str) -> str:
    """The share's words: from between the markers of a share file, or the whole text."""
    if WORDS_START in text and WORDS_END in text:
        text = text.split(WORDS_START, 1)[1].split(WORDS_END, 1)[0]
    tokens = re.findall(r"[A-Za-z]+", text)
    return " ".join(t.lower() for t in tokens)


def combine(shares: list[tuple[str, str]]) -> Identity:
    """The recovery identity from K shares, given as (label, text). Names any bad share."""
    if not shares:
        raise UsageError("Give the recovery shares, each with --share FILE.")
    parsed: list[tuple[int, str, Share, str]] = []
    for n, (label, text) in enumerate(shares, 1):
        words = words_of(text)
        try:
            share = Share.from_mnemonic(words)
        except (shamir_mnemonic.MnemonicError, ValueError, KeyError, IndexError):
            raise RecoveryShareError(
                f"Share {n} ({label}) has a mistyped or missing word: its checksum does not match.",
                hint="compare every word with the paper; the words come from a fixed list",
            ) from None
        parsed.append((n, label, share, words))
    first = parsed[0][2]
    for n, label, share, _ in parsed[1:]:
        if share.identifier != first.identifier or share.member_threshold != (
            first.member_threshold
        ):
            raise RecoveryShareError(
                f"Share {n} ({label}) belongs to a different set of recovery shares than share 1.",
                hint="use shares made by the same vault recovery split",
            )
    seen: dict[int, tuple[int, str]] = {}
    for n, label, share, _ in parsed:
        if share.index in seen:
            raise RecoveryShareError(
                f"Share {n} ({label}) is the same share as share {seen[share.index][0]}"
                f" ({seen[share.index][1]}).",
            )
        seen[share.index] = (n, label)
    need = first.member_threshold
    if len(parsed) < need:
        given = sorted(share.index + 1 for _, _, share, _ in parsed)
        raise RecoveryShareError(
            f"These shares need {need} to open the vault; only {len(parsed)} given"
            f" (shares {' and '.join(map(str, given))}): one of the others is missing.",
            hint="give each share with its own --share FILE",
        )
    try:
        secret = shamir_mnemonic.combine_mnemonics([w for _, _, _, w in parsed[:need]])
    except (shamir_mnemonic.MnemonicError, ValueError):
        raise RecoveryShareError("These recovery shares do not fit together.") from None
    if len(secret) != SECRET_BYTES:
        raise RecoveryShareError("These are not Redress recovery shares.")
    return recovery_identity(SecretBytes(secret, "recovery secret"))


def read_shares(paths: list[Path]) -> list[tuple[str, str]]:
    shares = []
    for path in paths:
        data = read_small_file(path, "recovery share", limit=64 * 1024)
        try:
            shares.append((path.name, data.decode()))
        except UnicodeDecodeError:
            raise RecoveryShareError(f"{path} is not a recovery share (not text).") from None
    return shares


# --- opening the vault with shares -----------------------------------------------------


def restore_access(
    directory: Path,
    recovery: Identity,
    name: str,
    passphrase: Passphrase,
    kdf: KdfParams = DEFAULT_KDF,
) -> Vault:
    """Open the vault with the recovery key and make ``name`` a new caseworker of it.

    The recovery access file is accepted when its writer is a current caseworker of the
    database it opens (the same rule as caseworkers' access files). The new caseworker's
    access file is written by the new identity itself.
    """
    name = validate_name(name)
    check_strength(passphrase, name=name)
    if not (directory / DB_FILE).exists():
        raise VaultError(
            f"There is no vault in {directory}.",
            hint="restore the latest backup first: vault restore FILE --vault DIR --share ...",
        )
    check_private_tree(directory)
    path = directory / RECOVERY_ACCESS
    if not path.exists():
        raise VaultError(f"The vault in {directory} has no recovery access file.")
    # The current recovery access file's writer, and the writers of any pending ones (a key
    # change interrupted before its last step): open_access checks each writer against the
    # caseworkers of the database it opens, as for caseworkers' access files.
    writers = {access_writer(read_small_file(path, "access file"))}
    for pending in directory.glob(f"{RECOVERY_ACCESS}.next-*"):
        with contextlib.suppress(VaultError, OSError):
            writers.add(access_writer(read_small_file(pending, "access file")))
    try:
        opened = open_access(
            directory, recovery, path, frozenset(writers), "The recovery", member=False
        )
    except WrongKeyError:
        raise WrongKeyError("These recovery shares do not open this vault.") from None
    db = opened.db
    try:
        taken = db.execute("SELECT 1 FROM caseworkers WHERE name = ?", (name,)).fetchone()
        if taken is not None:
            raise UsageError(
                f"{name} is already a name in this vault; choose a new name for yourself.",
                hint=f"for example {name}-2",
            )
        identity = Identity.generate(name)
        people = directory / CASEWORKERS_DIR
        make_private_dir(people)
        with locked(directory):
            replace_private_file(people / f"{name}.key", lock_identity(identity, passphrase, kdf))
            replace_private_file(
                access_path(directory, name), wrap_access(opened.access, identity.public, identity)
            )
            vault = Vault(directory, identity, opened.access, db)
            with vault.transaction():
                vault.register_caseworker(db, identity.public)
                # after the entry that adds the new caseworker, who makes this one
                vault.log_action(db, "recovery-restored", subject=recovery_key_id(recovery))
                if team_clock.is_syncing(db):
                    # One of a team's laptops: the team never hears of the new caseworker,
                    # and nobody here can sign as the laptop's owner any more.
                    team_clock.leave_team(db, "recovery")
            for stale in people.glob(f"{name}.access.next-*"):
                stale.unlink()
            fsync_dir(people)
    except BaseException:
        db.close()
        raise
    return vault
