"""The error of a run that cannot start or continue."""


class TrainingError(RuntimeError):
    """A run that cannot start or continue (bad weights, NaN loss, ...)."""
