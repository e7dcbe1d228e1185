"""The base of the project's restoration networks (`HINTBackbone`, `DnCNN`, ...)."""

from __future__ import annotations

import keras

from hint.precision import policy_for_load, precision_policy


class Backbone(keras.Model):
    """A functional restoration network that knows its size multiple and its inference defaults.

    The shape follows KerasHub's `Backbone`: a subclass builds its layers and calls
    `super().__init__(inputs=..., outputs=..., **kwargs)`; its `get_config()` adds its own
    constructor arguments to this class's. What every network adds to Keras' `Model`:

    - `size_multiple`: the height and width its inputs must be multiples of (HINT 16: it
      downsamples three times and SCAL pools once more; DnCNN 1; 2 with pixel unshuffle).
      Training validates crop sizes against it and inference pads images to it.
    - `inference_defaults`: the inference options this network wants unless the caller says
      otherwise (for an inpainter, e.g. `{"color_space": "rgb", "max_side": 256}`), saved with
      the model, so a converted checkpoint or a shipped network carries its own settings.
    - its dtype policy (`"float32"`, `"mixed_bfloat16"`) is saved in its config and restored
      on loading, unless the loader asks for another (`hint.precision.load_policy`).

    Args:
        inference_defaults: Inference options of the network's task (`TaskPlugin.restore`
            arguments). Defaults to `None` (the task's own defaults).
        **kwargs: `keras.Model` arguments (`inputs`, `outputs`, `name`, `dtype`, ...).
    """

    # The size multiple of every network of the class, unless `multiple_for` says otherwise.
    SIZE_MULTIPLE = 1

    def __init__(self, *args, inference_defaults=None, **kwargs):
        if inference_defaults is not None and not isinstance(inference_defaults, dict):
            raise ValueError(
                "`inference_defaults` must be a dict of inference options or None. "
                f"Received: inference_defaults={inference_defaults!r}"
            )
        super().__init__(*args, **kwargs)
        self.inference_defaults = dict(inference_defaults or {})

    @classmethod
    def multiple_for(cls, **args) -> int:
        """The size multiple of a network built with constructor arguments `args`.

        What training checks crop sizes against before building anything; a subclass whose
        multiple depends on its arguments overrides it.
        """
        return cls.SIZE_MULTIPLE

    @property
    def size_multiple(self) -> int:
        """The height and width of the inputs must be multiples of this."""
        return self.multiple_for(**self.get_config())

    def get_config(self):
        return {
            "name": self.name,
            "trainable": self.trainable,
            "dtype": self.dtype_policy.name,
            "inference_defaults": dict(self.inference_defaults),
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        # The layers are made in the constructor, so the policy must be global while it runs.
        policy = policy_for_load(config.pop("dtype", None))
        if policy is None:
            return cls(**config)
        with precision_policy(policy):
            return cls(**config)
