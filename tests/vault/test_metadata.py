"""Taking hidden data out of a reporter's files (vault/metadata.py), on real JPEG, PNG and WebP
files carrying EXIF GPS, camera and author data, made here with Pillow."""

from __future__ import annotations

import io

import pytest
from PIL import Image, PngImagePlugin

from vault.metadata import MAX_CLEANED_BYTES, clean

NAME = "Jane Doe-5f1c"  # a canary: the author's name must not come out
CAMERA = "CanonCam-93ab"


def _exif(orientation: int | None = None) -> Image.Exif:
    exif = Image.Exif()
    exif[0x010F] = CAMERA  # Make
    exif[0x0110] = "EOS 5D"  # Model
    exif[0x013B] = NAME  # Artist
    exif[0x8298] = f"(c) {NAME}"  # Copyright
    exif[0x0131] = "PhoneOS 17.2"  # Software
    if orientation is not None:
        exif[0x0112] = orientation
    gps = exif.get_ifd(0x8825)
    gps[1] = "N"
    gps[2] = (51.0, 30.0, 26.5)
    gps[3] = "W"
    gps[4] = (0.0, 7.0, 39.0)
    exif.get_ifd(0x8769)[0x9003] = "2024:03:01 22:14:05"  # DateTimeOriginal
    return exif


def _image(size: tuple[int, int] = (48, 32)) -> Image.Image:
    im = Image.new("RGB", size, (200, 30, 30))
    im.paste((10, 200, 10), (0, 0, size[0] // 2, size[1] // 2))  # a green corner, top left
    return im


def _jpeg(orientation: int | None = None) -> bytes:
    out = io.BytesIO()
    xmp = f'<x:xmpmeta xmlns:x="adobe:ns:meta/"><dc:creator>{NAME}</dc:creator></x:xmpmeta>'
    _image().save(out, "JPEG", exif=_exif(orientation), comment=NAME.encode(), xmp=xmp.encode())
    return out.getvalue()


def _png() -> bytes:
    info = PngImagePlugin.PngInfo()
    info.add_text("Author", NAME)
    info.add_itxt("Description", f"taken by {NAME}")
    out = io.BytesIO()
    _image().save(out, "PNG", exif=_exif(), pnginfo=info)
    return out.getvalue()


def _webp() -> bytes:
    out = io.BytesIO()
    _image().save(out, "WEBP", exif=_exif(), lossless=True)
    return out.getvalue()


def _assert_nothing_hidden(data: bytes) -> Image.Image:
    assert NAME.encode() not in data
    assert CAMERA.encode() not in data
    assert b"PhoneOS" not in data
    assert b"2024:03:01" not in data
    im = Image.open(io.BytesIO(data))
    exif = im.getexif()
    assert len(exif) == 0
    assert not exif.get_ifd(0x8825)
    for key in ("exif", "xmp", "XML:com.adobe.xmp", "icc_profile", "comment", "photoshop"):
        assert not im.info.get(key), key
    assert not [k for k, v in im.info.items() if isinstance(v, str)]
    return im


@pytest.mark.parametrize(
    ("make", "claimed", "extension"),
    [(_jpeg, "image/jpeg", "jpg"), (_png, "image/png", "png"), (_webp, "image/webp", "webp")],
)
def test_gps_camera_author_and_dates_are_removed_and_named(
    make: object, claimed: str, extension: str
) -> None:
    original = make()  # type: ignore[operator]
    assert NAME.encode() in original  # the test's file really carries what must go
    assert Image.open(io.BytesIO(original)).getexif().get_ifd(0x8825)
    cleaned = clean(original, claimed)
    assert cleaned.data is not None
    assert cleaned.withheld is None
    assert cleaned.extension == extension
    for said in (
        "GPS location",
        "camera make, model or serial number",
        "author, description or copyright",
        "date and time taken",
        "software used",
    ):
        assert said in cleaned.removed
    im = _assert_nothing_hidden(cleaned.data)
    assert im.size == (48, 32)
    assert im.format == Image.open(io.BytesIO(original)).format


def test_the_jpeg_comment_and_xmp_are_named_too() -> None:
    cleaned = clean(_jpeg(), "image/jpeg")
    assert "comment" in cleaned.removed
    assert "XMP metadata" in cleaned.removed


def test_png_text_fields_are_named() -> None:
    assert "text fields" in clean(_png(), "image/png").removed


def test_a_photo_taken_sideways_is_turned_upright_before_its_tags_go() -> None:
    cleaned = clean(_jpeg(orientation=6), "image/jpeg")  # 6: rotate 90 degrees clockwise
    assert cleaned.data is not None
    im = _assert_nothing_hidden(cleaned.data)
    assert im.size == (32, 48)
    # the green corner, top left before, is top right once turned clockwise
    r, g, _ = im.convert("RGB").getpixel((im.width - 3, 3))  # type: ignore[misc]
    assert g > 150
    assert r < 100


def test_the_type_claimed_does_not_decide_a_jpeg_called_a_pdf_is_still_cleaned() -> None:
    cleaned = clean(_jpeg(), "application/pdf")
    assert cleaned.data is not None
    assert cleaned.kind == "JPEG image"
    _assert_nothing_hidden(cleaned.data)


def test_an_image_without_hidden_data_says_none_was_found() -> None:
    out = io.BytesIO()
    _image().save(out, "PNG")
    cleaned = clean(out.getvalue(), "image/png")
    assert cleaned.data is not None
    assert cleaned.removed == ()


def test_a_palette_png_with_transparency_keeps_its_pixels() -> None:
    im = Image.new("P", (10, 10), 1)
    im.putpalette([0, 0, 0, 255, 0, 0] + [0] * 762)
    out = io.BytesIO()
    im.save(out, "PNG", transparency=0)
    cleaned = clean(out.getvalue(), "image/png")
    assert cleaned.data is not None
    assert Image.open(io.BytesIO(cleaned.data)).convert("RGB").getpixel((5, 5)) == (255, 0, 0)


@pytest.mark.parametrize(
    ("data", "claimed", "why"),
    [
        (b"%PDF-1.7\n/Author (" + NAME.encode() + b")", "application/pdf", "PDF"),
        (b"PK\x03\x04 a word document", "application/vnd.openxml", "this kind of file"),
        (b"\xff\xd8\xff\xe0 not really a jpeg", "image/jpeg", "does not open as the image"),
        (b"\x89PNG\r\n\x1a\n broken", "image/png", "does not open as the image"),
        (b"\xff\xfe not utf-8 \xff", "text/plain", "says it is plain text but is not"),
    ],
)
def test_files_the_vault_cannot_clean_are_withheld_with_the_reason(
    data: bytes, claimed: str, why: str
) -> None:
    cleaned = clean(data, claimed)
    assert cleaned.data is None
    assert cleaned.withheld is not None
    assert why in cleaned.withheld
    assert NAME not in repr(cleaned)


def test_a_moving_image_is_withheld() -> None:
    frames = [_image(), Image.new("RGB", (48, 32), (0, 0, 255))]
    out = io.BytesIO()
    frames[0].save(out, "WEBP", save_all=True, append_images=frames[1:], exif=_exif())
    cleaned = clean(out.getvalue(), "image/webp")
    assert cleaned.data is None
    assert "moving image" in str(cleaned.withheld)


def test_a_jpeg_with_more_pictures_after_the_photo_gives_the_photo_alone() -> None:
    # Phones write a depth map, an HDR gain map or a preview after the photo (a multi-picture
    # JPEG, which Pillow opens as MPO): the photo goes in the pack, redrawn; the rest stays out.
    out = io.BytesIO()
    depth = Image.new("L", (24, 16), 128)
    _image().save(out, "MPO", save_all=True, append_images=[depth], exif=_exif())
    cleaned = clean(out.getvalue(), "image/jpeg")
    assert (cleaned.kind, cleaned.extension, cleaned.withheld) == ("JPEG image", "jpg", None)
    assert cleaned.removed[0] == "GPS location"
    assert cleaned.removed[-1] == "other images in the file"
    assert cleaned.data is not None
    im = _assert_nothing_hidden(cleaned.data)
    assert (im.format, im.size, getattr(im, "n_frames", 1)) == ("JPEG", (48, 32), 1)


def test_plain_text_is_kept_as_it_is() -> None:
    text = b"Letter from the surgery, 3 March.\n"
    cleaned = clean(text, "text/plain; charset=utf-8")
    assert (cleaned.data, cleaned.extension, cleaned.removed) == (text, "txt", ())


def test_a_file_too_large_to_clean_in_memory_is_withheld() -> None:
    cleaned = clean(b"\0" * (MAX_CLEANED_BYTES + 1), "image/png")
    assert cleaned.data is None
    assert "larger than" in str(cleaned.withheld)
