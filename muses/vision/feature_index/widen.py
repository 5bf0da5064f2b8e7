"""float16 vectors of the index widened to float32, fast whatever the data."""

import numpy as np

# Rows widened to float32 per step: the step's temporaries stay in the CPU's cache.
WIDEN_ROWS = 64
# float16 bits shifted into a float32's place, times 2**112, are the float32 of the same
# value (normal and subnormal alike); inf and NaN are never stored (writing.to_dtype clips).
WIDEN_SCALE = np.float32(2.0**112)


def as_float32(vectors: np.ndarray) -> np.ndarray:
    """A float32 copy of stored vectors. Integer shifts and one multiply on cache-sized
    steps give bit-identical results at about 2 ns a value whatever the data; numpy's cast
    is level on dense rows but three to four times slower on rows with many zeros, as
    pooled ReLU features have (``bench/scale.py paths``)."""
    if vectors.dtype != np.float16 or not vectors.size:
        return np.asarray(vectors, dtype=np.float32)
    out = np.empty(vectors.shape, np.float32)
    flat_in, flat_out = vectors.reshape(len(vectors), -1), out.reshape(len(out), -1)
    for start in range(0, len(vectors), WIDEN_ROWS):
        bits = flat_in[start : start + WIDEN_ROWS].view(np.uint16).astype(np.uint32)
        sign = bits & 0x8000
        bits ^= sign
        bits <<= 13
        widened = bits.view(np.float32)
        widened *= WIDEN_SCALE
        bits |= sign << 16
        flat_out[start : start + WIDEN_ROWS] = widened
    return out
