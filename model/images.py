"""Decoding untrusted image bytes for inference: format allow-list, size limits, bomb guard, RGB.

Limits (each refusal is an :class:`InferenceInputError` with an HTTP status):

- empty data: 400; more than ``MAX_ENCODED_BYTES`` encoded bytes: 413;
- not one of ``ACCEPTED_FORMATS`` (sniffed from the bytes, whatever the content type said): 415;
- more than ``MAX_IMAGE_PIXELS`` pixels (checked from the header, before any pixel is decoded; Pillow's
  own decompression-bomb guard is set to the same limit and its warning is raised as an error): 413;
- corrupt or truncated data (the image is decoded fully, never padded): 400. Pillow refuses PNG, GIF, BMP and
  WebP data that ends early, even with an end marker after it. libjpeg does not: it pads a JPEG cut short with
  grey when an end-of-image marker follows. So a JPEG's markers are checked first (``model.jpeg_structure``:
  missing scans, a header claiming more pixels than the scans can hold, refused before anything is allocated),
  and a single-scan JPEG is decoded without the marker that ends its scan: complete data decodes to the last
  pixel row, data cut short leaves the decoder waiting for more, which is refused. A progressive JPEG cut
  inside its last scan (usually the last refinement bit of part of the image) is not detected.

Decoded images all become RGB the same way for training and inference (:func:`to_rgb`); 16-bit greyscale is
scaled from 0..65535 to 0..255. Decoding holds at most ``DECODE_MEMORY_BYTES`` of pixels at once in a process,
however many threads decode: the others wait.
"""

from __future__ import annotations

import io
import math
import struct
import threading
import warnings
import zlib
from contextlib import contextmanager

from PIL import Image, UnidentifiedImageError, features

from model.jpeg_structure import JpegStructure, JpegStructureError, check_complete, parse
from model.safe_fetch import InferenceInputError

MAX_ENCODED_BYTES = 10 * 1024 * 1024
# 36 megapixels (6000 x 6000) covers camera photos; decoding it takes ~100 MB, a bomb's would take gigabytes.
MAX_IMAGE_PIXELS = 36_000_000
ACCEPTED_FORMATS = ("JPEG", "PNG", "BMP", "GIF") + (("WEBP",) if features.check("webp") else ())

# Decoded pixels held at once by one process (all decoding threads together); an image near the pixel limit
# needs ~300 MB (progressive JPEG coefficients, decoded pixels, the RGB copy).
DECODE_MEMORY_BYTES = 512 * 1024 * 1024
# Modes whose samples are 16-bit (0..65535) integers: Pillow's own conversion to 8 bits clips them.
SIXTEEN_BIT_MODES = ("I;16", "I;16L", "I;16B", "I;16N", "I")
# What replaces the marker after a single-scan JPEG's entropy-coded data: stuffed 0xFF bytes, enough for the
# decoder's look-ahead (57 bits) after the last block. A whole scan ignores them; a cut one decodes at most
# about two blocks from them (an all-ones Huffman code is invalid, 17 bits each) before waiting for more data.
JPEG_SCAN_FILLER = b"\xff\x00" * 8

Image.MAX_IMAGE_PIXELS = MAX_IMAGE_PIXELS
# What Pillow raises for damaged data varies by format and decoder.
_DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, IndexError, TypeError, struct.error, zlib.error)
_BOMB_ERRORS = (Image.DecompressionBombError, Image.DecompressionBombWarning)


def _too_many_pixels(width: int, height: int) -> InferenceInputError:
    return InferenceInputError(
        f"image is {width}x{height} = {width * height} pixels; the limit is {MAX_IMAGE_PIXELS}", status=413
    )


class _MemoryBudget:
    """Bytes that decoding threads reserve before they allocate pixels, and give back after."""

    def __init__(self, total: int):
        self.total = total
        self.free = total
        self._changed = threading.Condition()

    @contextmanager
    def reserve(self, size: int):
        size = min(size, self.total)  # one image never waits for more than there is
        with self._changed:
            self._changed.wait_for(lambda: self.free >= size)
            self.free -= size
        try:
            yield
        finally:
            with self._changed:
                self.free += size
                self._changed.notify_all()


decode_memory = _MemoryBudget(DECODE_MEMORY_BYTES)


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
        image = _open(data)
        width, height = image.size
        if width * height > MAX_IMAGE_PIXELS:
            raise _too_many_pixels(width, height)
        coefficient_bytes = 0
        if image.format in ("JPEG", "MPO"):
            structure = _jpeg_structure(data)
            if structure.progressive or len(structure.scans) > 1:  # coefficients of the whole image are kept
                coefficient_bytes = width * height * 2 * len(structure.components)
            else:
                image = _open(data[: structure.scans[0].data_end] + JPEG_SCAN_FILLER)
        if draft_short_side:  # a no-op for formats other than JPEG (and MPO, the JPEG of many cameras)
            scale = draft_short_side / min(width, height)
            image.draft("RGB", (math.ceil(width * scale), math.ceil(height * scale)))
        pixel_bytes = image.width * image.height * (12 if image.mode in SIXTEEN_BIT_MODES else 8)
        with decode_memory.reserve(coefficient_bytes + pixel_bytes):
            try:
                image.load()
            except _BOMB_ERRORS:
                raise _too_many_pixels(width, height) from None
            except _DECODE_ERRORS as error:
                raise InferenceInputError(f"image data is corrupt or truncated: {error}", status=400) from None
            return to_rgb(image)


def to_rgb(image: Image.Image) -> Image.Image:
    """``image`` as 8-bit RGB, for training and inference alike: 16-bit greyscale scaled from 0..65535 (Pillow's
    own conversion clips it, turning most values white), alpha dropped, every other mode as Pillow converts it."""
    if image.mode == "RGB":
        return image
    if image.mode in SIXTEEN_BIT_MODES:
        return image.convert("I").point(lambda value: value / 257 + 0.5).convert("L").convert("RGB")
    try:
        return image.convert("RGB")
    except ValueError:
        raise InferenceInputError(f"images of mode {image.mode} cannot be converted to RGB", status=415) from None


def _open(data: bytes) -> Image.Image:
    try:
        return Image.open(io.BytesIO(data), formats=ACCEPTED_FORMATS)
    except UnidentifiedImageError:
        raise InferenceInputError(
            f"data is not an image in an accepted format ({', '.join(ACCEPTED_FORMATS)})", status=415
        ) from None
    except _BOMB_ERRORS as error:  # Pillow's message names the pixel count and the limit
        raise InferenceInputError(f"image is too large: {error}", status=413) from None
    except _DECODE_ERRORS as error:
        raise InferenceInputError(f"image header is corrupt: {error}", status=400) from None


def _jpeg_structure(data: bytes) -> JpegStructure:
    try:
        structure = parse(data)
        check_complete(structure)
    except JpegStructureError as error:
        raise InferenceInputError(f"image data is corrupt or truncated: {error}", status=400) from None
    if not structure.scans:
        raise InferenceInputError("image data is corrupt or truncated: the JPEG has no scan", status=400)
    return structure
