"""Image decoding for inference (and training): data cut short is refused even when an end marker follows it, a
header that claims more pixels than the data holds is refused before decoding, and every mode becomes the same
RGB. Every image is generated here with Pillow."""

from __future__ import annotations

import io
import struct
import threading

import numpy as np
import pytest
from PIL import Image, ImageFile

from model.images import MAX_IMAGE_PIXELS, _MemoryBudget, decode_image, to_rgb
from model.safe_fetch import InferenceInputError

EOI = b"\xff\xd9"


def photo(height: int = 96, width: int = 128, mode: str = "RGB") -> Image.Image:
    """A smooth gradient with noise: compresses like a photo, and a grey patch would change it."""
    rng = np.random.default_rng(height * width)
    y, x = np.mgrid[0:height, 0:width]
    base = np.stack([x * 255 // (width - 1), y * 255 // (height - 1), (x + y) * 127 // (width + height)], -1)
    return Image.fromarray(np.clip(base + rng.integers(0, 40, (height, width, 3)), 0, 255).astype("uint8")).convert(
        mode
    )


def encode(image: Image.Image, fmt: str = "JPEG", **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def refusal(data: bytes) -> InferenceInputError:
    with pytest.raises(InferenceInputError) as caught:
        decode_image(data)
    return caught.value


JPEGS = {
    "baseline": ("RGB", {"quality": 90}),
    "baseline 4:4:4": ("RGB", {"quality": 80, "subsampling": 0}),
    "optimised tables": ("RGB", {"quality": 85, "optimize": True}),
    "restart markers": ("RGB", {"quality": 85, "restart_marker_blocks": 4}),
    "greyscale": ("L", {"quality": 90}),
    "CMYK": ("CMYK", {"quality": 90}),
    "progressive": ("RGB", {"quality": 90, "progressive": True}),
    "progressive greyscale": ("L", {"quality": 90, "progressive": True}),
}


@pytest.mark.parametrize("name", JPEGS)
def test_whole_jpegs_decode_to_the_same_pixels_as_pillow(name):
    mode, options = JPEGS[name]
    data = encode(photo(mode=mode), **options)
    expected = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))
    assert np.array_equal(np.asarray(decode_image(data)), expected)


@pytest.mark.parametrize("name", [name for name in JPEGS if "progressive" not in name])
@pytest.mark.parametrize("kept", [0.3, 0.7, 0.95])
def test_a_jpeg_cut_short_is_refused_even_with_an_end_marker(name, kept):
    mode, options = JPEGS[name]
    data = encode(photo(mode=mode), **options)
    cut = data[: int(len(data) * kept)] + EOI
    Image.open(io.BytesIO(cut)).load()  # what this guards against: Pillow pads the missing rows with grey
    error = refusal(cut)
    assert error.status == 400 and "image data is corrupt or truncated" in str(error)


@pytest.mark.parametrize("name", ["progressive", "progressive greyscale"])
def test_a_progressive_jpeg_cut_between_its_scans_is_refused(name):
    mode, options = JPEGS[name]
    data = encode(photo(mode=mode), **options)
    scan_starts = [index for index in range(len(data) - 1) if data[index : index + 2] == b"\xff\xda"]
    for start in scan_starts[1:]:  # everything up to a later scan's header, then the end marker
        error = refusal(data[:start] + EOI)
        assert error.status == 400 and "scans are missing" in str(error)


@pytest.mark.parametrize("progressive", [False, True])
def test_a_header_claiming_more_pixels_than_the_data_holds_is_refused_before_decoding(progressive, monkeypatch):
    data = bytearray(encode(photo(64, 64), quality=90, progressive=progressive))
    frame = data.index(b"\xff\xc2" if progressive else b"\xff\xc0")
    struct.pack_into(">HH", data, frame + 5, 6000, 6000)  # height, width: 36 megapixels, within the pixel limit

    def no_decoding(self):
        raise AssertionError("pixels were decoded")

    monkeypatch.setattr(ImageFile.ImageFile, "load", no_decoding)
    error = refusal(bytes(data))
    assert error.status == 400 and "a 6000x6000 image needs at least" in str(error)


def test_a_large_valid_progressive_jpeg_near_the_pixel_limit_is_accepted():
    data = encode(Image.new("RGB", (4000, 3000), (120, 130, 140)), quality=90, progressive=True)
    assert 4000 * 3000 <= MAX_IMAGE_PIXELS and len(data) < 200_000  # tiny, but its scans hold every block
    image = decode_image(data, draft_short_side=64)
    assert image.getpixel((0, 0)) == pytest.approx((120, 130, 140), abs=2)


@pytest.mark.parametrize(
    "fmt, end_marker", [("PNG", b"\x00\x00\x00\x00IEND\xaeB`\x82"), ("GIF", b"\x3b"), ("BMP", b""), ("WEBP", b"")]
)
def test_other_formats_cut_short_are_refused(fmt, end_marker):
    data = encode(photo(), fmt)
    error = refusal(data[: len(data) // 2] + end_marker)
    assert error.status == 400


# --- every mode to the same RGB ---------------------------------------------------------------------------------

SIXTEEN_BIT = np.array([[0, 257, 32768, 65535, 1000]], dtype=np.uint16)
SCALED = [0, 1, 128, 255, 4]  # round(value / 257)


def grey_rgb(image: Image.Image) -> list[int]:
    rgb = np.asarray(image)
    assert (rgb[..., 0] == rgb[..., 1]).all() and (rgb[..., 1] == rgb[..., 2]).all()
    return rgb[..., 0].ravel().tolist()


def test_a_16_bit_greyscale_png_is_scaled_not_binarised():
    data = encode(Image.fromarray(SIXTEEN_BIT), "PNG")
    assert Image.open(io.BytesIO(data)).mode == "I;16"
    assert grey_rgb(decode_image(data)) == SCALED


@pytest.mark.parametrize(
    "image",
    [
        Image.frombytes("I;16B", (5, 1), SIXTEEN_BIT.astype(">u2").tobytes()),
        Image.fromarray(SIXTEEN_BIT.astype(np.int32), "I"),
    ],
    ids=["I;16B", "I"],
)
def test_other_16_bit_modes_are_scaled_the_same(image):
    assert grey_rgb(to_rgb(image)) == SCALED


def test_32_bit_values_beyond_16_bits_are_clipped():
    image = Image.fromarray(np.array([[-600, 70000, 1 << 30]], dtype=np.int32), "I")
    assert grey_rgb(to_rgb(image)) == [0, 255, 255]


PALETTE = [10, 20, 30, 200, 100, 50] + [0] * (768 - 6)


def palette_image(mode: str = "P") -> Image.Image:
    image = Image.frombytes("P", (2, 1), bytes([0, 1]))
    image.putpalette(PALETTE)
    return image.convert("PA") if mode == "PA" else image


MODES = {
    "palette PNG": (encode(palette_image(), "PNG"), [(10, 20, 30), (200, 100, 50)]),
    "palette GIF": (encode(palette_image(), "GIF"), [(10, 20, 30), (200, 100, 50)]),
    "palette BMP": (encode(palette_image(), "BMP"), [(10, 20, 30), (200, 100, 50)]),
    "greyscale PNG": (encode(Image.frombytes("L", (2, 1), bytes([0, 77])), "PNG"), [(0, 0, 0), (77, 77, 77)]),
    "greyscale with alpha PNG": (
        encode(Image.frombytes("LA", (2, 1), bytes([9, 0, 77, 255])), "PNG"),
        [(9, 9, 9), (77, 77, 77)],
    ),
    "bilevel PNG": (encode(Image.frombytes("1", (2, 1), bytes([0b01000000])), "PNG"), [(0, 0, 0), (255, 255, 255)]),
    "bilevel BMP": (encode(Image.frombytes("1", (2, 1), bytes([0b01000000])), "BMP"), [(0, 0, 0), (255, 255, 255)]),
    "RGBA PNG": (
        encode(Image.frombytes("RGBA", (2, 1), bytes([1, 2, 3, 0, 4, 5, 6, 255])), "PNG"),
        [(1, 2, 3), (4, 5, 6)],
    ),
    "RGBA WebP lossless": (
        encode(Image.frombytes("RGBA", (2, 1), bytes([1, 2, 3, 9, 4, 5, 6, 255])), "WEBP", lossless=True, exact=True),
        [(1, 2, 3), (4, 5, 6)],
    ),
}


@pytest.mark.parametrize("name", MODES)
def test_every_format_and_mode_becomes_the_expected_rgb(name):
    data, expected = MODES[name]
    image = decode_image(data)
    assert image.mode == "RGB" and [tuple(pixel) for pixel in np.asarray(image).reshape(-1, 3).tolist()] == expected


@pytest.mark.parametrize("mode", ["P", "PA", "CMYK", "LA", "L", "1", "RGBA", "YCbCr", "F", "RGBX", "HSV", "LAB"])
def test_every_mode_pillow_opens_converts_as_pillow_does(mode):
    # Everything but 16-bit greyscale keeps Pillow's own conversion (alpha dropped, CMYK and YCbCr converted).
    image = palette_image(mode) if mode in ("P", "PA") else photo(4, 6).convert(mode)
    assert to_rgb(image).tobytes() == image.convert("RGB").tobytes()


def test_a_cmyk_jpeg_decodes_as_pillow_converts_it():
    data = encode(photo(mode="CMYK"), quality=95)
    assert decode_image(data).tobytes() == Image.open(io.BytesIO(data)).convert("RGB").tobytes()


def test_a_mode_without_an_rgb_conversion_is_refused():
    image = Image.new("La", (2, 2))
    with pytest.raises(InferenceInputError) as caught:
        to_rgb(image)
    assert caught.value.status == 415 and "mode La" in str(caught.value)


def test_training_reads_images_through_the_same_conversion(tmp_path):
    from model.data import ImageSplit

    path = tmp_path / "sixteen.png"
    Image.fromarray(SIXTEEN_BIT).save(path)
    split = ImageSplit([(str(path), 0)], transform=lambda image: image)
    assert grey_rgb(split[0][0]) == SCALED


def test_decoding_threads_share_one_memory_budget():
    budget = _MemoryBudget(100)
    entered, release = threading.Event(), threading.Event()

    def hold() -> None:
        with budget.reserve(70):
            entered.set()
            release.wait(10)

    holder = threading.Thread(target=hold)
    holder.start()
    assert entered.wait(10)
    waited = threading.Event()

    def second() -> None:
        with budget.reserve(70):  # must wait: 70 + 70 > 100
            waited.set()

    other = threading.Thread(target=second)
    other.start()
    assert not waited.wait(0.2) and budget.free == 30
    release.set()
    holder.join(10)
    other.join(10)
    assert waited.is_set() and budget.free == 100
    with budget.reserve(10**9):  # more than the whole budget waits for all of it, not forever
        assert budget.free == 0
