"""Argument checks shared by the layers and models."""


def is_int(value, minimum=1) -> bool:
    """Whether `value` is an int (not a bool, which Python counts as one) of at least `minimum`."""
    return isinstance(value, int) and not isinstance(value, bool) and value >= minimum
