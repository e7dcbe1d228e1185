"""hint: the HINT inpainting transformer and learned image restoration in Keras 3.

Subpackages: `hint.layers` (one Keras layer a file), `hint.models` (backbones, discriminator,
presets), `hint.tasks` (task models owning their train step and losses). Modules:
`hint.config`, `hint.training`, `hint.evaluation`, `hint.inference`, `hint.summary`,
`hint.losses`, `hint.metrics`, `hint.plots`, `hint.commands` (the `main.py` subcommands).
"""

__version__ = "0.2.0"

# Registers every Keras class the project saves (so `keras.saving.load_model(...,
# safe_mode=True)` finds them after `import hint`) and every task plug-in.
from hint import layers, models, tasks  # noqa: E402, F401
