"""Optimizers."""

from hint.optimizers.fused_adam import FusedAdam

__all__ = ["FusedAdam"]
