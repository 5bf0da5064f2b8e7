"""The inference engines under the backbones: OpenVINO (fp32 here) and the TensorFlow
fallback give the same features, the choice follows the settings, and the converted
network is cached by weights digest."""

import logging

import numpy as np
import pytest

from muses.vision import inference
from muses.vision.inference import EngineUnavailable


def use_engine(backbone, settings, engine: str, precision: str = "fp32"):
    """Configure the engine and make the backbone choose again, as a restart would."""
    settings.MUSES_INFERENCE = engine
    settings.MUSES_PRECISION = precision
    backbone._engine = None
    return backbone


def pixels(count: int = 5, size: int = 16) -> np.ndarray:
    rng = np.random.default_rng(1)
    return rng.uniform(-1, 1, (count, size, size, 3)).astype(np.float32)


def test_openvino_fp32_gives_the_features_tensorflow_gives(tiny_backbone, settings):
    batch = pixels()
    tf_features = use_engine(tiny_backbone, settings, "tensorflow").extract(batch, batch_size=4)
    assert tiny_backbone.numerics == ("tensorflow", "fp32")
    ov_features = use_engine(tiny_backbone, settings, "openvino").extract(batch, batch_size=4)
    assert tiny_backbone.numerics == ("openvino", "fp32")
    np.testing.assert_allclose(ov_features, tf_features, rtol=1e-5, atol=1e-6)


def test_auto_in_fp32_chooses_tensorflow_and_says_so_at_start_up(tiny_backbone, settings, caplog):
    with caplog.at_level(logging.INFO, logger="muses.vision.inference"):
        use_engine(tiny_backbone, settings, "auto").extract(pixels(1))
    assert tiny_backbone.numerics == ("tensorflow", "fp32")
    assert "inference: tensorflow fp32 for tiny (fp32: the faster engine measured)" in caplog.text


def test_auto_with_an_adopted_reduced_precision_chooses_openvino(
    tiny_backbone, settings, monkeypatch, caplog
):
    monkeypatch.setattr(inference, "ADOPTED_PRECISIONS", frozenset({"fp32", "bf16"}))
    monkeypatch.setattr(inference, "cpu_has_bf16", lambda: True)
    with caplog.at_level(logging.INFO, logger="muses.vision.inference"):
        use_engine(tiny_backbone, settings, "auto", "auto").extract(pixels(1))
    assert tiny_backbone.numerics == ("openvino", "bf16")
    assert "inference: openvino bf16 for tiny" in caplog.text


def test_auto_falls_back_to_tensorflow_when_openvino_cannot_run(
    tiny_backbone, settings, monkeypatch, caplog
):
    def missing():
        raise EngineUnavailable("OpenVINO is not installed (No module named 'openvino')")

    monkeypatch.setattr(inference, "ADOPTED_PRECISIONS", frozenset({"fp32", "bf16"}))
    monkeypatch.setattr(inference, "openvino_core", missing)
    with caplog.at_level(logging.INFO, logger="muses.vision.inference"):
        features = use_engine(tiny_backbone, settings, "auto", "auto").extract(pixels(2))
    assert tiny_backbone.numerics == ("tensorflow", "fp32")
    assert features.shape == (2, 8)
    assert "tensorflow fp32 for tiny (OpenVINO unavailable: OpenVINO is not installed" in (
        caplog.text
    )


def test_openvino_asked_for_by_name_but_unable_to_run_is_an_error_saying_why(
    tiny_backbone, settings, monkeypatch, tmp_path
):
    settings.MUSES_WEIGHTS_DIR = tmp_path  # no converted network cached there

    def broken(*args, **kwargs):
        raise RuntimeError("Cannot create Convolution layer")

    monkeypatch.setattr(inference, "convert_graph", broken)
    use_engine(tiny_backbone, settings, "openvino")
    with pytest.raises(EngineUnavailable, match="OpenVINO cannot run tiny: Cannot create"):
        tiny_backbone.extract(pixels(1))


def test_tensorflow_refuses_a_reduced_precision_rather_than_ignoring_it(tiny_backbone, settings):
    use_engine(tiny_backbone, settings, "tensorflow", "bf16")
    with pytest.raises(EngineUnavailable, match="bf16 needs OpenVINO; TensorFlow runs fp32"):
        tiny_backbone.extract(pixels(1))


def test_bf16_is_refused_on_a_cpu_without_bf16_kernels(tiny_backbone, settings, monkeypatch):
    monkeypatch.setattr(inference, "cpu_has_bf16", lambda: False)
    use_engine(tiny_backbone, settings, "openvino", "bf16")
    with pytest.raises(EngineUnavailable, match="this CPU has no bf16 kernels"):
        tiny_backbone.extract(pixels(1))


def test_auto_precision_is_fp32_on_a_cpu_without_bf16_kernels(tiny_backbone, settings, monkeypatch):
    monkeypatch.setattr(inference, "cpu_has_bf16", lambda: False)
    use_engine(tiny_backbone, settings, "openvino", "auto").extract(pixels(1))
    assert tiny_backbone.numerics == ("openvino", "fp32")


def test_auto_precision_takes_bf16_only_once_the_benches_adopted_it(
    tiny_backbone, settings, monkeypatch
):
    monkeypatch.setattr(inference, "cpu_has_bf16", lambda: True)
    use_engine(tiny_backbone, settings, "openvino", "auto").extract(pixels(1))
    assert tiny_backbone.numerics == ("openvino", "fp32")
    monkeypatch.setattr(inference, "ADOPTED_PRECISIONS", frozenset({"fp32", "bf16"}))
    use_engine(tiny_backbone, settings, "openvino", "auto").extract(pixels(1))
    assert tiny_backbone.numerics == ("openvino", "bf16")


def test_the_converted_network_is_cached_by_weights_digest_and_read_back(
    tiny_backbone, settings, tmp_path, monkeypatch
):
    settings.MUSES_WEIGHTS_DIR = tmp_path
    conversions = []
    convert = inference.convert_graph
    monkeypatch.setattr(inference, "convert_graph", lambda *a: conversions.append(a) or convert(*a))
    first = use_engine(tiny_backbone, settings, "openvino").extract(pixels(), batch_size=8)
    cached = sorted(p.name for p in (tmp_path / "openvino").glob("*.xml"))
    assert len(conversions) == 1 and len(cached) == 1
    assert cached[0].startswith("tiny-16px-tiny-seed0-")
    again = use_engine(tiny_backbone, settings, "openvino").extract(pixels(), batch_size=8)
    assert len(conversions) == 1  # the second start read the IR instead of converting
    np.testing.assert_array_equal(again, first)


def test_a_damaged_cached_network_is_converted_again(tiny_backbone, settings, tmp_path):
    settings.MUSES_WEIGHTS_DIR = tmp_path
    first = use_engine(tiny_backbone, settings, "openvino").extract(pixels(), batch_size=8)
    (cached,) = (tmp_path / "openvino").glob("*.xml")
    cached.write_text("<net>cut short")
    again = use_engine(tiny_backbone, settings, "openvino").extract(pixels(), batch_size=8)
    assert tiny_backbone.numerics == ("openvino", "fp32")
    np.testing.assert_array_equal(again, first)
    assert cached.read_text().startswith("<?xml")


def test_random_weights_are_never_cached_on_disk(tiny_backbone, settings, tmp_path):
    settings.MUSES_WEIGHTS_DIR = tmp_path
    tiny_backbone.weights_digest = "random"
    use_engine(tiny_backbone, settings, "openvino").extract(pixels(1))
    assert list((tmp_path / "openvino").glob("*.xml")) == []


def test_concurrent_batches_each_get_their_own_features(tiny_backbone, settings):
    from concurrent.futures import ThreadPoolExecutor

    use_engine(tiny_backbone, settings, "openvino")
    batches = [pixels(4) * (i + 1) / 4 for i in range(8)]
    alone = [tiny_backbone.extract(b, batch_size=4) for b in batches]
    with ThreadPoolExecutor(4) as pool:
        together = list(pool.map(lambda b: tiny_backbone.extract(b, batch_size=4), batches))
    for one, other in zip(alone, together):
        np.testing.assert_allclose(other, one, rtol=1e-6, atol=1e-7)


def calibration_folder(path, colours) -> str:
    path.mkdir()
    from PIL import Image as PILImage

    for index, colour in enumerate(colours):
        PILImage.new("RGB", (20, 20), colour).save(path / f"{index:02d}.png")
    return str(path)


CALIBRATION_COLOURS = [(30 * i, 255 - 20 * i, (70 * i) % 256) for i in range(8)]


@pytest.fixture
def int8_ready(settings, tmp_path):
    pytest.importorskip("nncf")
    settings.MUSES_WEIGHTS_DIR = tmp_path / "weights"
    settings.MUSES_CALIBRATION_DIR = calibration_folder(tmp_path / "calib", CALIBRATION_COLOURS)
    settings.MUSES_CALIBRATION_IMAGES = 8
    return settings


def test_int8_is_calibrated_once_and_its_ir_is_named_by_the_calibration_set(
    tiny_backbone, int8_ready, tmp_path, monkeypatch
):
    monkeypatch.setattr(inference, "cpu_has_int8", lambda: True)
    batch = pixels()
    fp32 = use_engine(tiny_backbone, int8_ready, "openvino").extract(batch, batch_size=8)
    quantised = []
    real = inference.quantize
    monkeypatch.setattr(inference, "quantize", lambda *a: quantised.append(1) or real(*a))
    int8 = use_engine(tiny_backbone, int8_ready, "openvino", "int8").extract(batch, batch_size=8)
    assert tiny_backbone.numerics == ("openvino", "int8") and len(quantised) == 1
    cosine = (int8 * fp32).sum(1) / np.linalg.norm(int8, axis=1) / np.linalg.norm(fp32, axis=1)
    assert cosine.min() > 0.9  # the same network, quantised
    use_engine(tiny_backbone, int8_ready, "openvino", "int8").extract(batch, batch_size=8)
    assert len(quantised) == 1  # the second start read the INT8 IR
    other = calibration_folder(tmp_path / "other", CALIBRATION_COLOURS[::-1][:5])
    int8_ready.MUSES_CALIBRATION_DIR = other
    use_engine(tiny_backbone, int8_ready, "openvino", "int8").extract(batch, batch_size=8)
    assert len(quantised) == 2  # another calibration set is another network
    assert len(list((tmp_path / "weights" / "openvino").glob("*.xml"))) == 3


def test_int8_without_calibration_images_is_an_error_naming_the_folder(
    tiny_backbone, int8_ready, tmp_path, monkeypatch
):
    monkeypatch.setattr(inference, "cpu_has_int8", lambda: True)
    (tmp_path / "empty").mkdir()
    int8_ready.MUSES_CALIBRATION_DIR = str(tmp_path / "empty")
    use_engine(tiny_backbone, int8_ready, "openvino", "int8")
    with pytest.raises(EngineUnavailable, match="calibration images: none in .*empty"):
        tiny_backbone.extract(pixels(1))


def test_int8_is_refused_on_a_cpu_without_int8_kernels(tiny_backbone, settings, monkeypatch):
    monkeypatch.setattr(inference, "cpu_has_int8", lambda: False)
    use_engine(tiny_backbone, settings, "openvino", "int8")
    with pytest.raises(EngineUnavailable, match="this CPU has no int8 kernels"):
        tiny_backbone.extract(pixels(1))


def test_int8_vectors_not_adopted_are_a_family_of_their_own():
    assert inference.numerics_family("openvino", "int8") == "openvino-int8"
    assert inference.family_numerics("openvino-int8") == ("openvino", "int8")
