"""Deep Image Prior: restore one image with no training data (`python main.py dip`)."""

from hint.tasks.dip.dip_config import DIPConfig
from hint.tasks.dip.fit_result import FitResult
from hint.tasks.dip.plugin import DIPPlugin
from hint.tasks.dip.prior_fit import PriorFit

__all__ = ["DIPConfig", "DIPPlugin", "FitResult", "PriorFit"]
