"""Complaint packs against the least they must do, measured in the same run.

* cleaning a photo: ``vault.metadata.clean`` on a JPEG camera photo carrying EXIF (GPS,
  camera, author, dates), against a bare Pillow pass over the same bytes: open, decode,
  and save again as JPEG at the same quality (what any cleaner that redraws the pixels
  must do). What ours adds: reading the tags to name them, turning the image upright, and
  opening the result again to check nothing came through.
* checking a pack: ``vault.pack_manifest.verify_pack`` over a pack whose attachments
  total M MiB, against a bare SHA-256 of the same files read from disk (what any check of
  the manifest's hashes must do). What ours adds: the manifest parse, one Ed25519
  verification, and walking the folder.
"""

from __future__ import annotations

import hashlib
import io
import os
import random
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PIL import Image

from bench.common import Row, Smoke, Timer, interleaved, sized
from vault.keys import Identity, TeamPublicKey
from vault.metadata import clean
from vault.pack_manifest import sign_folder, verify_pack

CLEAN_TARGET = 1.5  # ≤ 1.5× the bare re-encode
VERIFY_TARGET = 1.3  # ≤ 1.3× a bare SHA-256 of the files


def camera_photo(width: int, height: int) -> bytes:
    """A JPEG with a photo's texture (noise over gradients) and a phone's EXIF."""
    rng = random.Random(7)
    base = Image.linear_gradient("L").resize((width, height)).convert("RGB")
    noise = Image.frombytes("RGB", (width, height), rng.randbytes(width * height * 3))
    im = Image.blend(base, noise, 0.25)
    exif = Image.Exif()
    exif[0x010F], exif[0x0110], exif[0x013B] = "Phone maker", "Phone 15", "A reporter"
    exif[0x0112] = 1
    gps = exif.get_ifd(0x8825)
    gps[1], gps[2], gps[3], gps[4] = "N", (51.0, 30.0, 26.5), "W", (0.0, 7.0, 39.0)
    exif.get_ifd(0x8769)[0x9003] = "2024:03:01 22:14:05"
    out = io.BytesIO()
    im.save(out, "JPEG", quality=90, exif=exif)
    return out.getvalue()


def run(quick: bool, repeats: int, say: Callable[[str], None]) -> list[Row]:
    size = (sized(2000), sized(1500)) if quick else (4000, 3000)
    mib = max(1, sized(20) // 100) if Smoke.on else 20 if quick else 100
    return [_clean_row(size, repeats, say), _verify_row(mib, repeats, say)]


def _clean_row(size: tuple[int, int], repeats: int, say: Callable[[str], None]) -> Row:
    photo = camera_photo(*size)

    def ours() -> Timer:
        with Timer() as t:
            cleaned = clean(photo, "image/jpeg")
        assert cleaned.data is not None
        assert "GPS location" in cleaned.removed
        return t

    def bare() -> Timer:
        with Timer() as t, Image.open(io.BytesIO(photo)) as im:
            im.load()
            out = io.BytesIO()
            Image.frombytes(im.mode, im.size, im.tobytes()).save(out, "JPEG", quality=95)
        return t

    runs = interleaved({"ours": ours, "bare": bare}, repeats, say=say)
    megapixels = size[0] * size[1] / 1e6
    row = Row(
        name=f"clean a {megapixels:.0f} MP photo",
        what="vault.metadata.clean on a JPEG with EXIF GPS, camera, author and dates",
        kind="time",
        timers=runs["ours"],
        bare_timers=runs["bare"],
        bare_what="Pillow: open, decode, save again as JPEG quality 95 (no checks)",
        target=f"≤ {CLEAN_TARGET}× bare",
    )
    row.met = (row.ratio or 99) <= CLEAN_TARGET
    row.note = f"photo {len(photo) / 2**20:.1f} MiB"
    return row


def _verify_row(mib: int, repeats: int, say: Callable[[str], None]) -> Row:
    identity = Identity.generate("amara")
    team = TeamPublicKey(1, bytes(32), (("amara", identity.public.sign_pk),))
    with tempfile.TemporaryDirectory() as tmp:
        pack = Path(tmp) / "pack"
        (pack / "attachments").mkdir(parents=True)
        each = mib // 5
        for n in range(1, 6):
            (pack / "attachments" / f"{n}.jpg").write_bytes(os.urandom(each << 20))
        (pack / "complaint.pdf").write_bytes(os.urandom(40_000))
        sign_folder(pack, "7KQ2-M9XD", "2026-12-05", identity)
        files = sorted(p for p in pack.rglob("*") if p.is_file())

        def ours() -> Timer:
            with Timer() as t:
                verified = verify_pack(pack, team)
            assert verified.signer == "amara"
            return t

        def bare() -> Timer:
            with Timer() as t:
                for path in files:
                    h = hashlib.sha256()
                    with path.open("rb") as f:
                        while piece := f.read(1 << 20):
                            h.update(piece)
            return t

        runs = interleaved({"ours": ours, "bare": bare}, repeats, say=say)
    row = Row(
        name=f"export verify, {mib} MiB pack",
        what="vault.pack_manifest.verify_pack (manifest, signature, every file's SHA-256)",
        kind="time",
        timers=runs["ours"],
        bare_timers=runs["bare"],
        bare_what="SHA-256 of the same files read from disk in 1 MiB pieces",
        target=f"≤ {VERIFY_TARGET}× bare",
    )
    row.met = (row.ratio or 99) <= VERIFY_TARGET
    row.note = "5 attachments and a PDF; the files are in the page cache after the first run"
    return row


def summary(rows: list[Row]) -> dict[str, Any]:
    return {r.name: r.to_json() for r in rows}


__all__ = ["camera_photo", "run", "summary"]
