"""Decoding untrusted image bytes for inference: format allow-list, size limits, bomb guard, RGB.

Limits (each refusal is an :class:`InferenceInputError` with an HTTP status):

- empty data: 400; more than ``MAX_ENCODED_BYTES`` encoded bytes: 413;
- not one of ``ACCEPTED_FORMATS`` (sniffed from the bytes, whatever the content type said): 415;
- more than ``MAX_IMAGE_PIXELS`` pixels (checked from the header, before any pixel is decoded; Pillow's
  own decompression-bomb guard is set to the same limit and its warning is raised as an error): 413;
- corrupt or truncated data (the image is decoded fully, never padded): 400.
"""

from __future__ import annotations

import io
import math
import struct
import warnings
import zlib

from PIL import Image, UnidentifiedImageError, features

from model.safe_fetch import InferenceInputError

MAX_ENCODED_BYTES = 10 * 1024 * 1024
# 36 megapixels (6000 x 6000) covers camera photos; decoding it takes ~100 MB, a bomb's would take gigabytes.
MAX_IMAGE_PIXELS = 36_000_000
ACCEPTED_FORMATS = ("JPEG", "PNG", "BMP", "GIF") + (("WEBP",) if features.check("webp") else ())

Image.MAX_IMAGE_PIXELS = MAX_IMAGE_PIXELS
# What Pillow raises for damaged data varies by format and decoder.
_DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, IndexError, TypeError, struct.error, zlib.error)
_BOMB_ERRORS = (Image.DecompressionBombError, Image.DecompressionBombWarning)


def _too_many_pixels(width: int, height: int) -> InferenceInputError:
    return InferenceInputError(
        f"image is {width}x{height} = {width * height} pixels; the limit is {MAX_IMAGE_PIXELS}", status=413
    )


def decode_image(data: bytes, draft_short_side: int = 0) -> Image.Image:
    """Decode ``data`` fully into an RGB image, or raise :class:`InferenceInputError`.

    ``draft_short_side``: a JPEG may be decoded at 1/2, 1/4 or 1/8 scale (libjpeg's DCT scaling, much
    faster for large photos) as long as its shorter side stays at least this many pixels; 0 = full size.
    """
    if not data:
        raise InferenceInputError("image is empty", status=400)
    if len(data) > MAX_ENCODED_BYTES:
        raise InferenceInputError(f"image is {len(data)} bytes; the limit is {MAX_ENCODED_BYTES}", status=413)
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            image = Image.open(io.BytesIO(data), formats=ACCEPTED_FORMATS)
        except UnidentifiedImageError:
            raise InferenceInputError(
                f"data is not an image in an accepted format ({', '.join(ACCEPTED_FORMATS)})", status=415
            ) from None
        except _BOMB_ERRORS as error:  # Pillow's message names the pixel count and the limit
            raise InferenceInputError(f"image is too large: {error}", status=413) from None
        except _DECODE_ERRORS as error:
            raise InferenceInputError(f"image header is corrupt: {error}", status=400) from None
        width, height = image.size
        if width * height > MAX_IMAGE_PIXELS:
            raise _too_many_pixels(width, height)
        if draft_short_side:  # a no-op for formats other than JPEG (and MPO, the JPEG of many cameras)
            scale = draft_short_side / min(width, height)
            image.draft("RGB", (math.ceil(width * scale), math.ceil(height * scale)))
        try:
            image.load()
            return image if image.mode == "RGB" else image.convert("RGB")
        except _BOMB_ERRORS:
            raise _too_many_pixels(width, height) from None
        except _DECODE_ERRORS as error:
            raise InferenceInputError(f"image data is corrupt or truncated: {error}", status=400) from None

