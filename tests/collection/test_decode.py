import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image as PILImage

from muses.collection.decode import ImageDecodeError, decode_image
from tests.conftest import encode_image


def test_it_decodes_a_jpeg_to_rgb():
    decoded = decode_image(encode_image(size=(40, 30)), name="a.jpg")
    assert (decoded.format, decoded.width, decoded.height, decoded.image.mode) == (
        "JPEG",
        40,
        30,
        "RGB",
    )


def test_it_rejects_a_zero_byte_file_naming_it():
    with pytest.raises(ImageDecodeError, match="empty.jpg: the file is empty"):
        decode_image(b"", name="empty.jpg")


def test_it_rejects_text_named_jpg():
    with pytest.raises(ImageDecodeError, match="notes.jpg: not an image"):
        decode_image(b"dear curator, this is not a picture", name="notes.jpg")


def test_it_rejects_a_truncated_jpeg():
    data = encode_image(size=(200, 200))
    with pytest.raises(ImageDecodeError, match="cut.jpg: truncated or corrupt"):
        decode_image(data[: len(data) // 2], name="cut.jpg")


def png_header_only(width: int, height: int) -> bytes:
    """A tiny PNG file that claims enormous dimensions (a decompression bomb)."""

    def chunk(kind, body):
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b"\0" * 10))
        + chunk(b"IEND", b"")
    )


def test_it_refuses_a_30000_by_30000_png_bomb_without_decoding_it():
    with pytest.raises(ImageDecodeError, match="bomb.png: .*(too many pixels|decompression bomb)"):
        decode_image(png_header_only(30000, 30000), name="bomb.png")


def test_it_refuses_images_over_the_configured_pixel_limit(settings):
    settings.MUSES_MAX_IMAGE_PIXELS = 100 * 100
    with pytest.raises(ImageDecodeError, match="too many pixels"):
        decode_image(encode_image(size=(200, 200)), name="big.jpg")


def test_it_converts_a_cmyk_jpeg_to_rgb():
    decoded = decode_image(encode_image(size=(20, 20), mode="CMYK", color=(0, 255, 255, 0)))
    assert decoded.image.mode == "RGB"
    r, g, b = decoded.image.getpixel((10, 10))
    assert r > 200 and g < 60 and b < 60  # no cyan/magenta/yellow ink but magenta+yellow = red


def test_it_scales_a_16_bit_png_to_8_bit_rgb():
    array = np.full((10, 10), 65535, dtype=np.uint16)
    array[:5] = 0
    buffer = io.BytesIO()
    PILImage.fromarray(array).save(buffer, format="PNG")
    decoded = decode_image(buffer.getvalue())
    assert decoded.image.mode == "RGB"
    assert decoded.image.getpixel((0, 9)) == (255, 255, 255)
    assert decoded.image.getpixel((0, 0)) == (0, 0, 0)


def test_it_takes_the_first_frame_of_an_animated_gif():
    frames = [PILImage.new("RGB", (16, 16), c) for c in [(255, 0, 0), (0, 0, 255)]]
    buffer = io.BytesIO()
    frames[0].save(buffer, format="GIF", save_all=True, append_images=frames[1:], duration=100)
    decoded = decode_image(buffer.getvalue())
    r, g, b = decoded.image.getpixel((8, 8))
    assert r > 200 and b < 50


def test_it_applies_exif_orientation():
    image = PILImage.new("RGB", (40, 20), (0, 128, 0))
    exif = image.getexif()
    exif[0x0112] = 6  # rotated 90 degrees: the upright picture is 20 wide, 40 tall
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", exif=exif)
    decoded = decode_image(buffer.getvalue())
    assert (decoded.width, decoded.height) == (20, 40)


def test_it_flattens_transparency_onto_white():
    buffer = io.BytesIO()
    PILImage.new("RGBA", (8, 8), (0, 0, 0, 0)).save(buffer, format="PNG")
    assert decode_image(buffer.getvalue()).image.getpixel((4, 4)) == (255, 255, 255)


def test_it_names_a_missing_file(tmp_path):
    with pytest.raises(ImageDecodeError, match="file not found"):
        decode_image(tmp_path / "gone.jpg")


def test_a_large_jpeg_decodes_at_reduced_scale_but_reports_its_file_size():
    decoded = decode_image(encode_image(size=(2400, 1600)), name="big.jpg", min_side=256)
    assert (decoded.width, decoded.height) == (2400, 1600)
    assert 256 <= min(decoded.image.size) < 512  # 1/4 scale: 600 x 400


def test_reduced_scale_never_goes_below_the_requested_short_side():
    decoded = decode_image(encode_image(size=(1000, 300)), name="wide.jpg", min_side=256)
    assert decoded.image.size == (1000, 300)  # 1/2 would give a 150 px short side


def test_an_exif_rotated_jpeg_reports_its_upright_size_when_reduced():
    image = PILImage.new("RGB", (1600, 800), (10, 20, 30))
    exif = image.getexif()
    exif[0x0112] = 6  # rotate 90 degrees when shown
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", exif=exif)
    decoded = decode_image(buffer.getvalue(), name="turned.jpg", min_side=256)
    assert (decoded.width, decoded.height) == (800, 1600)
    assert decoded.image.size == (400, 800)
