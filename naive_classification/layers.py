"""Keras layers of our own, registered so that saved ``.keras`` models load without code."""

import keras

# ImageNet channel means in BGR order (Keras' "caffe" preprocessing, what VGG19 expects).
VGG_BGR_MEANS = (103.939, 116.779, 123.68)


@keras.saving.register_keras_serializable(package="muses")
class CaffePreprocessing(keras.layers.Layer):
    """RGB pixels 0..255 -> BGR minus the ImageNet means, inside the model so that a saved
    model takes plain pixels (a Lambda layer would not load in safe mode)."""

    def call(self, inputs):
        bgr = keras.ops.flip(inputs, axis=-1)
        return bgr - keras.ops.convert_to_tensor(VGG_BGR_MEANS, dtype=bgr.dtype)


def custom_objects() -> dict:
    """What ``keras.saving.load_model`` needs to rebuild our models."""
    return {"muses>CaffePreprocessing": CaffePreprocessing}
