"""The training loss: cross-entropy on class indices, with label smoothing.

Keyword labels are noisy (a "Sculpture" can be a relief, an amulet a small figurine), so the
model should not be pushed to total certainty on every training label: label smoothing asks for
``1 - s + s / k`` on the labelled class and ``s / k`` on each other one, which keeps a wrong
label from dominating the loss and gives better calibrated probabilities.
"""

import keras

# Kept in definitions.py, beside the rest of the recipe, so that reading it imports no Keras.
from naive_classification.definitions import LABEL_SMOOTHING


@keras.saving.register_keras_serializable(package="muses")
class SmoothedSparseCrossentropy(keras.losses.Loss):
    """Categorical cross-entropy from integer labels with ``label_smoothing``; 0 is the
    plain sparse categorical cross-entropy."""

    def __init__(
        self,
        num_classes: int,
        label_smoothing: float = LABEL_SMOOTHING,
        name: str = "smoothed_sparse_crossentropy",
        **kwargs,
    ):
        super().__init__(name=name, **kwargs)
        if not 0 <= label_smoothing < 1:
            raise ValueError(f"label_smoothing must be in [0, 1), not {label_smoothing}")
        self.num_classes = int(num_classes)
        self.label_smoothing = float(label_smoothing)

    def call(self, y_true, y_pred):
        indices = keras.ops.cast(keras.ops.reshape(y_true, (-1,)), "int32")
        one_hot = keras.ops.one_hot(indices, self.num_classes, dtype=y_pred.dtype)
        return keras.losses.categorical_crossentropy(
            one_hot, y_pred, label_smoothing=self.label_smoothing
        )

    def get_config(self):
        config = super().get_config()
        config.update(num_classes=self.num_classes, label_smoothing=self.label_smoothing)
        return config
