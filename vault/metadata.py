"""Hidden data in a reporter's files, and taking it out before a file leaves the vault.

A photo can say where it was taken (GPS), on which camera or phone, by whom and when; a
complaint pack (:mod:`vault.complaint_pack`) must not pass that on. :func:`clean` decides,
from a file's bytes (never only from the type the reporter's browser claimed):

* a JPEG, PNG or WebP still image is redrawn with Pillow from its pixels alone, turned
  upright first as its orientation tag said, so every EXIF field (GPS, camera make, model,
  lens and serial, author, copyright, dates, software, thumbnail), XMP, IPTC, comments, text
  chunks and the colour profile are left behind; what was there is named in words, and the
  result is opened again to check that nothing of it came through (a JPEG that holds more
  pictures after the photo, a multi-picture or MPO file, gives its first, the photo);
* plain text (declared ``text/plain`` and valid UTF-8) has nowhere to hide such data and is
  kept as it is;
* anything else (PDFs, office documents, moving images, files that do not open as what they
  claim) is **withheld**, with the reason: the vault cannot yet clean it, and a file it
  cannot clean does not go out.

The original stays in the vault, unchanged.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

from PIL import Image, ImageOps, UnidentifiedImageError

MAX_CLEANED_BYTES = 64 << 20  # a larger file is withheld rather than decoded in memory

_FORMATS = {
    "JPEG": ("jpg", "JPEG image"),
    "PNG": ("png", "PNG image"),
    "WEBP": ("webp", "WebP image"),
}
# The modes each format is saved in as they are; any other is converted to the first.
_MODES = {
    "JPEG": ("RGB", "L", "CMYK"),
    "PNG": ("RGBA", "1", "L", "LA", "RGB", "I", "I;16"),
    "WEBP": ("RGBA", "RGB"),
}

# EXIF tags (TIFF numbering) and the words for what they hold.
_GPS_IFD = 0x8825
_EXIF_IFD = 0x8769
_CAMERA = {0x010F, 0x0110, 0xA430, 0xA431, 0xA432, 0xA433, 0xA434, 0xA435}
_AUTHOR = {0x013B, 0x8298, 0x9C9D, 0x010E, 0x9C9C, 0x9C9B, 0x9C9E, 0x9C9F}
_DATES = {0x0132, 0x9003, 0x9004, 0x9010, 0x9011, 0x9012, 0x9290, 0x9291, 0x9292}
_SOFTWARE = {0x0131, 0x000B}
_HARMLESS = {0x0112}  # orientation: applied to the pixels, so nothing is lost by dropping it
_MORE_IMAGES = "other images in the file"
_INFO_WORDS = {
    "xmp": "XMP metadata",
    "XML:com.adobe.xmp": "XMP metadata",
    "photoshop": "IPTC metadata",
    "icc_profile": "colour profile (ICC), which can name the device",
    "comment": "comment",
}


@dataclass(frozen=True, slots=True)
class Cleaned:
    """What :func:`clean` made of one file: the bytes to send (None when withheld), the file
    name ending to give them, what kind of file it is, what was removed, and why it was
    withheld."""

    data: bytes | None
    extension: str
    kind: str
    removed: tuple[str, ...] = ()
    withheld: str | None = None

    def __repr__(self) -> str:  # the bytes are a reporter's evidence: never print them
        return f"<Cleaned {self.kind}: {'withheld' if self.data is None else 'kept'}>"


def withheld(reason: str, kind: str = "file") -> Cleaned:
    return Cleaned(None, "", kind, (), reason)


def clean(data: bytes, claimed_type: str) -> Cleaned:
    """The file as it may leave the vault, or withheld with the reason (see the module)."""
    if len(data) > MAX_CLEANED_BYTES:
        return withheld(f"it is larger than {MAX_CLEANED_BYTES >> 20} MiB")
    image = _clean_image(data)
    if image is not None:
        return image
    claimed = claimed_type.split(";")[0].strip().lower()
    if claimed in ("image/jpeg", "image/png", "image/webp"):
        return withheld("it does not open as the image it claims to be", "image")
    if claimed.startswith("image/"):
        return withheld(
            "the vault cannot yet clean this kind of image (only JPEG, PNG, WebP)", "image"
        )
    if claimed == "text/plain":
        try:
            data.decode("utf-8")
        except UnicodeDecodeError:
            return withheld("it says it is plain text but is not", "text")
        return Cleaned(data, "txt", "plain text", ())
    if data.startswith(b"%PDF"):
        return withheld(
            "the vault cannot yet remove a PDF's hidden data (author, software, dates)", "PDF"
        )
    return withheld("the vault cannot remove hidden data from this kind of file")


def _clean_image(data: bytes) -> Cleaned | None:
    """A cleaned image; a withheld one; or None when ``data`` is no image Pillow reads here."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=tuple(_FORMATS)) as im:
                fmt = str(im.format)
                more: tuple[str, ...] = ()
                if fmt == "MPO":
                    # A JPEG with more pictures after the photo (a phone's depth or HDR gain
                    # map, a preview): the photo is the first, and only it is redrawn.
                    fmt, more = "JPEG", (_MORE_IMAGES,)
                elif getattr(im, "n_frames", 1) != 1:
                    return withheld(
                        "it is a moving image, which the vault cannot clean", _FORMATS[fmt][1]
                    )
                extension, kind = _FORMATS[fmt]
                found = found_metadata(im) + more
                im.load()
                upright = ImageOps.exif_transpose(im)
                out = _redraw(upright, fmt)
    except UnidentifiedImageError:
        return None
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError, Warning):
        return withheld("it does not open as the image it claims to be", "image")
    if not _is_clean(out):
        return withheld("hidden data could not be removed from it", kind)
    return Cleaned(out, extension, kind, found)


def found_metadata(im: Image.Image) -> tuple[str, ...]:
    """What hidden data an opened image carries, in words, in a fixed order."""
    words: list[str] = []
    exif = im.getexif()
    tags = set(exif)
    if exif.get_ifd(_EXIF_IFD):
        tags |= set(exif.get_ifd(_EXIF_IFD))
    if exif.get_ifd(_GPS_IFD) or _GPS_IFD in tags:
        words.append("GPS location")
    if tags & _CAMERA:
        words.append("camera make, model or serial number")
    if tags & _AUTHOR:
        words.append("author, description or copyright")
    if tags & _DATES:
        words.append("date and time taken")
    if tags & _SOFTWARE:
        words.append("software used")
    known = _CAMERA | _AUTHOR | _DATES | _SOFTWARE | _HARMLESS | {_GPS_IFD, _EXIF_IFD}
    if tags - known:
        words.append("other EXIF data")
    for key, said in _INFO_WORDS.items():
        if im.info.get(key) and said not in words:
            words.append(said)
    if any(isinstance(v, str) and k not in _INFO_WORDS for k, v in im.info.items()):
        words.append("text fields")
    return tuple(words)


def _redraw(im: Image.Image, fmt: str) -> bytes:
    """The image saved again from its pixels alone: a new image carries no info at all."""
    mode = im.mode
    if mode not in _MODES[fmt]:
        mode = _MODES[fmt][0]
        im = im.convert(mode)
    fresh = Image.frombytes(mode, im.size, im.tobytes())
    out = io.BytesIO()
    if fmt == "JPEG":
        fresh.save(out, "JPEG", quality=95)
    elif fmt == "WEBP":
        fresh.save(out, "WEBP", quality=95)
    else:
        fresh.save(out, "PNG")
    return out.getvalue()


def _is_clean(data: bytes) -> bool:
    """Opened again: no EXIF, no XMP, IPTC, colour profile, comment or text field."""
    with Image.open(io.BytesIO(data)) as im:
        if len(im.getexif()):
            return False
        if any(im.info.get(key) for key in _INFO_WORDS) or "exif" in im.info:
            return False
        return not any(isinstance(v, str) for v in im.info.values())
