"""What a Deep Image Prior fit leaves (`PriorFit.run`)."""

from __future__ import annotations

import dataclasses

import numpy as np


@dataclasses.dataclass
class FitResult:
    """What a fit leaves.

    Attributes:
        final: The last output, float32 [H, W, C].
        ema: The moving average of the outputs.
        best_loss: The output of the iteration with the lowest loss.
        history: Per iteration: `loss`, `psnr` (the output against the degraded image, on its
            known pixels) and, with a clean reference, `psnr_clean` and `psnr_clean_ema`.
        backtracks: The iterations at which the weights went back to the last accepted check.
        iterations: Iterations done.
        interrupted: Whether the fit stopped early (Ctrl-C).
        cpu_seconds: Process time (all threads) of the iterations, across resumed runs.
        stopped_at: The iteration count at which the stopping rule (`dip.stop`) ended the fit,
            or None when it ran all its iterations.
    """

    final: np.ndarray
    ema: np.ndarray
    best_loss: np.ndarray
    history: dict
    backtracks: list
    iterations: int
    interrupted: bool = False
    cpu_seconds: float = 0.0
    stopped_at: int | None = None

    def image(self, which: str) -> np.ndarray:
        """`"ema"`, `"final"` or `"best-loss"`."""
        return {"ema": self.ema, "final": self.final, "best-loss": self.best_loss}[which]
