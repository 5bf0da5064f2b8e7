"""Decoding and preprocessing one large JPEG for EfficientNet-Lite0 (224 px): the backbone's
path (JPEG scaled down in the DCT domain while decoding) against a full-size decode, in
one run, one thread.

    .venv/bin/python bench/decode_large.py [--size 4000x3000] [--repeats 15]

The photo is skimage's 'chelsea' scaled up to the size asked (JPEG quality 90), so it has
real image structure. Prints the median milliseconds of each path and their ratio.
"""

import argparse
import io
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "muses.settings")

import django  # noqa: E402

django.setup()

from PIL import Image as PILImage  # noqa: E402
from skimage import data as skdata  # noqa: E402

from muses.collection.decode import decode_image  # noqa: E402
from muses.vision import efficientnet_lite0 as lite0  # noqa: E402

INPUT = 224
MIN_SIDE = round(INPUT * 256 / 224)  # what Backbone.decode asks for


def large_jpeg(width: int, height: int) -> bytes:
    photo = PILImage.fromarray(skdata.chelsea()).resize((width, height), PILImage.BICUBIC)
    buffer = io.BytesIO()
    photo.save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


def median_ms(run, repeats: int) -> float:
    run()  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", default="4000x3000", help="WIDTHxHEIGHT of the JPEG")
    parser.add_argument("--repeats", type=int, default=15, help="timed runs per path")
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.split("x"))
    data = large_jpeg(width, height)
    reduced = median_ms(
        lambda: lite0.preprocess(decode_image(data, min_side=MIN_SIDE).image, INPUT), args.repeats
    )
    full = median_ms(lambda: lite0.preprocess(decode_image(data).image, INPUT), args.repeats)
    print(f"{width}x{height} JPEG ({len(data) / 1e6:.1f} MB), decode + preprocess to {INPUT} px:")
    print(f"  reduced-scale decode (the backbone's path): {reduced:6.1f} ms (median)")
    print(f"  full-size decode:                           {full:6.1f} ms (median)")
    print(f"  ratio: {full / reduced:.1f}x")


if __name__ == "__main__":
    main()
