"""Keras epochs as a progress stage."""
from __future__ import annotations

from relmask.running.progress.stages import Stage

_CALLBACK_CLASS = None


def keras_callback(description: str = "epoch"):
    """A Keras callback reporting epochs as a stage (``epoch 3/4 (loss 0.41)``); pass it in ``callbacks=`` of
    :func:`relmask.pipeline.training.fit`. No line per epoch in lines mode: the stage around the training gets one."""
    global _CALLBACK_CLASS
    if _CALLBACK_CLASS is None:
        import keras

        class EpochProgress(keras.callbacks.Callback):
            def __init__(self, description: str):
                super().__init__()
                self.description = description
                self.stage: Stage | None = None

            def on_train_begin(self, logs=None):
                self.stage = Stage(self.description, int(self.params.get("epochs") or 0) or None, log=False)
                self.stage.__enter__()
                self.stage.position = 1

            def on_epoch_end(self, epoch, logs=None):
                if self.stage is None:  # Keras begins a training before its first epoch ends
                    return
                logs = logs or {}
                info = ", ".join(f"{k} {float(logs[k]):.3g}" for k in ("loss", "val_loss", "accuracy",
                                                                        "val_accuracy") if k in logs)
                self.stage.update(1, info=info)

            def on_train_end(self, logs=None):
                if self.stage is not None:
                    self.stage.__exit__(None, None, None)
                    self.stage = None

        _CALLBACK_CLASS = EpochProgress
    return _CALLBACK_CLASS(description)
