"""hint: the HINT inpainting transformer and learned image restoration in Keras 3.

    >>> import hint
    >>> clean = hint.load("denoise_color").restore(noisy, sigma=25)

Subpackages: `hint.layers` (one Keras layer a file), `hint.models` (networks, discriminator,
presets), `hint.tasks` (one plug-in per task, with the Keras training model it trains),
`hint.datasets` (image I/O, sources, masks, degradations, pipelines), `hint.tuning` (Keras
Tuner). `docs/architecture.md` draws how they fit together.
"""

__version__ = "0.2.0"

# Registers every Keras class the project saves (so `keras.saving.load_model(...,
# safe_mode=True)` finds them after `import hint`) and every task plug-in.
from hint import layers, models, tasks  # noqa: E402, F401
from hint.restorer import Restorer, load  # noqa: E402

__all__ = ["Restorer", "load"]
