"""Report photos: an upload is decoded with Pillow and re-encoded without any metadata, or refused naming the file.

What is stored is never the citizen's file: only its pixels, turned upright (``ImageOps.exif_transpose``) and
re-encoded in the format the content shows (JPEG, PNG or WebP; never trusted from a name or a declared type),
with no EXIF (GPS, camera serials), ICC profile, XMP or text chunk, plus a thumbnail. A file is refused when
it is larger than ``MAX_BYTES`` (checked before decoding), is not a decodable image of those formats (a text
file renamed .jpg, a truncated JPEG), or has more than ``MAX_PIXELS`` pixels (a decompression bomb: a few
kilobytes that would decode to gigabytes); so is every photo beyond ``MAX_PHOTOS``.
"""

from __future__ import annotations

import hashlib
import io
import warnings
from dataclasses import dataclass

from PIL import Image, ImageFile, ImageOps

from mapper.domain.errors import FieldProblem

MAX_PHOTOS = 3
MAX_BYTES = 8 * 1024 * 1024
MAX_PIXELS = 40_000_000
THUMBNAIL_PX = 320  # the longer side of a thumbnail
FORMATS = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp"}
THUMBNAIL_TYPE = "image/webp"
FILENAME_SHOWN = 80  # characters of a file's name quoted back in a refusal

# Pillow warns (DecompressionBombWarning) above MAX_IMAGE_PIXELS and refuses above twice that; here both refuse.
Image.MAX_IMAGE_PIXELS = MAX_PIXELS
warnings.filterwarnings("error", category=Image.DecompressionBombWarning)
ImageFile.LOAD_TRUNCATED_IMAGES = False


@dataclass(frozen=True)
class Upload:
    """One file as received: ``field`` names it in refusals (``photo[2]``: the second photo part)."""

    field: str
    filename: str
    data: bytes


@dataclass(frozen=True)
class Photo:
    """A re-encoded image and its thumbnail, as stored."""

    content_type: str
    width: int
    height: int
    data: bytes
    thumbnail: bytes
    thumbnail_type: str
    sha256: bytes


class PhotoRefused(ValueError):
    """Why one file cannot be a report's photo."""


def shown_name(filename: str) -> str:
    """The file's name as quoted back to its sender: printable characters only, and not too long."""
    name = "".join(c for c in filename if c.isprintable()) or "(no name)"
    return name if len(name) <= FILENAME_SHOWN else name[: FILENAME_SHOWN - 1] + "…"


def problem(upload: Upload, reason: str) -> FieldProblem:
    return FieldProblem(upload.field, f"{shown_name(upload.filename)!r} {reason}")


def _decode(data: bytes) -> tuple[Image.Image, str]:
    """The image's first frame fully decoded, and its format as the content shows it."""
    try:
        img = Image.open(io.BytesIO(data), formats=list(FORMATS))
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise PhotoRefused(f"has more than {MAX_PIXELS:,} pixels (at most 40 megapixels)") from None
    except (OSError, ValueError, SyntaxError):  # UnidentifiedImageError is an OSError
        raise PhotoRefused("is not a JPEG, PNG or WebP image") from None
    width, height = img.size
    if width * height > MAX_PIXELS:  # whatever the process's warning filters are
        raise PhotoRefused(f"has {width}×{height} pixels, more than {MAX_PIXELS:,} (at most 40 megapixels)")
    try:
        img.load()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise PhotoRefused(f"has more than {MAX_PIXELS:,} pixels (at most 40 megapixels)") from None
    except (OSError, ValueError, SyntaxError, EOFError, MemoryError):
        raise PhotoRefused("cannot be decoded: the image is damaged or incomplete") from None
    return img, img.format


def _pixels_only(img: Image.Image) -> Image.Image:
    """The image upright, in a mode its format can store, with no metadata left on it."""
    ImageOps.exif_transpose(img, in_place=True)  # no copy of the pixels when the image is upright already
    upright = img
    alpha = upright.mode in ("RGBA", "LA", "PA", "La", "RGBa") or "transparency" in upright.info
    if upright.mode not in ("L", "RGB") or alpha:
        upright = upright.convert("RGBA" if alpha else "RGB")
    upright.info = {}  # exif, icc_profile, xmp, dpi, text chunks…: none of it is written
    return upright


def _encode(img: Image.Image, fmt: str) -> bytes:
    out = io.BytesIO()
    if fmt == "JPEG":
        img.convert("RGB" if img.mode != "L" else "L").save(out, "JPEG", quality=85, optimize=True)
    elif fmt == "PNG":
        img.save(out, "PNG")
    else:
        img.save(out, "WEBP", quality=85)
    return out.getvalue()


def _thumbnail(img: Image.Image) -> bytes:
    box = (THUMBNAIL_PX, THUMBNAIL_PX)  # scaled down straight from the image (no full-size copy), never up
    thumb = ImageOps.contain(img, box, Image.Resampling.LANCZOS) if max(img.size) > THUMBNAIL_PX else img
    out = io.BytesIO()
    thumb.save(out, "WEBP", quality=75)
    return out.getvalue()


def prepare(upload: Upload) -> Photo:
    """The stored form of one upload, or PhotoRefused with the reason."""
    if len(upload.data) > MAX_BYTES:
        raise PhotoRefused(f"is larger than {MAX_BYTES // (1024 * 1024)} MB")
    if not upload.data:
        raise PhotoRefused("is empty")
    img, fmt = _decode(upload.data)
    try:
        clean = _pixels_only(img)
        data = _encode(clean, fmt)
        thumbnail = _thumbnail(clean)
    except (OSError, ValueError):
        raise PhotoRefused("cannot be re-encoded (an unusual pixel format)") from None
    digest = hashlib.sha256(data).digest()
    return Photo(FORMATS[fmt], clean.width, clean.height, data, thumbnail, THUMBNAIL_TYPE, digest)


def prepare_all(uploads: list[Upload]) -> tuple[list[Photo], list[FieldProblem]]:
    """Every upload's stored form, and the problems of those refused (each naming its field and file)."""
    photos, problems = [], []
    for n, upload in enumerate(uploads):
        if n >= MAX_PHOTOS:
            problems.append(problem(upload, f"is one photo too many: a report takes at most {MAX_PHOTOS}"))
            continue
        try:
            photos.append(prepare(upload))
        except PhotoRefused as e:
            problems.append(problem(upload, str(e)))
    return photos, problems
