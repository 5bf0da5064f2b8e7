"""Keras callbacks for the classifier."""

import keras
from tqdm import tqdm


class EpochProgress(keras.callbacks.Callback):
    """One tqdm bar over the epochs of a fit, showing the latest accuracy and loss."""

    def __init__(self, total: int, desc: str, enabled: bool = True, on_epoch=None):
        super().__init__()
        self.total, self.desc, self.enabled = total, desc, enabled
        # Called after each epoch: a job's progress point (raising there stops the fit).
        self.on_epoch = on_epoch
        self.bar = None

    def on_train_begin(self, logs=None):
        self.bar = tqdm(total=self.total, desc=self.desc, unit="epoch", disable=not self.enabled)

    def on_epoch_end(self, epoch, logs=None):
        shown = {k: f"{v:.3f}" for k, v in (logs or {}).items() if "acc" in k or "loss" in k}
        self.bar.set_postfix(shown, refresh=False)
        self.bar.update(1)
        if self.on_epoch is not None:
            self.on_epoch()

    def on_train_end(self, logs=None):
        self.bar.close()
