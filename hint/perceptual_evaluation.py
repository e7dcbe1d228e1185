"""FID, KID and LPIPS in `evaluate`: the networks from local weight files, the numbers per set.

Enabled by the `eval:` section of a config (or `--set` on the command line):

- `eval.fid_weights`: pytorch-fid's `pt_inception-2015-12-05-6726825d.pth` (FID over all
  evaluation images, KID per hole-ratio bucket and over all);
- `eval.lpips_vgg_weights` and `eval.lpips_linear_weights`: torchvision's `vgg16-397923af.pth`
  and the `lpips` package's `weights/v0.1/vgg.pth` (LPIPS per image, averaged per bucket).

Nothing is downloaded and no metric ever runs on untrained weights: without the files the
columns are left out and `evaluate` says how to add them. FID computed with weights other than
pytorch-fid's published file is labelled as not comparable with published FID. `docs/training.md`
(FID, KID and LPIPS) says where to get the files.
"""

from __future__ import annotations

import numpy as np

from hint import distribution_metrics
from hint.models.fid_inception import FIDInceptionV3, is_published_file
from hint.models.lpips_network import LPIPSNetwork

PERCEPTUAL_METRICS = ("lpips", "kid", "kid_std", "fid")
"""The columns `evaluate` adds when the weights are configured (rows carry those computed)."""

HOW_TO_ENABLE = (
    "FID / KID / LPIPS are off: set eval.fid_weights (pytorch-fid's "
    "pt_inception-2015-12-05-6726825d.pth) and eval.lpips_vgg_weights + "
    "eval.lpips_linear_weights to report them (see docs/training.md)"
)
NOT_COMPARABLE = "FID/KID not comparable with published numbers (not pytorch-fid's weights file)"


class PerceptualMetrics:
    """Collects features and distances of each method's outputs per bucket; reports the sets.

    Args:
        fid_network: The FID Inception network, or None (no FID / KID).
        lpips_network: The LPIPS network, or None (no LPIPS).
        comparable: Whether `fid_network` has the published weights.
    """

    def __init__(self, fid_network=None, lpips_network=None, comparable=True):
        self.fid_network = fid_network
        self.lpips_network = lpips_network
        self.comparable = comparable
        self._real = {}  # bucket -> features of the clean images
        self._fake = {}  # method -> bucket -> features of its outputs

    @classmethod
    def from_config(cls, eval_cfg):
        """The networks named by `eval_cfg` (an `EvalConfig`); None when none is configured.

        Raises:
            hint.torch_weights.WeightsError: a configured file is missing or unreadable.
        """
        fid_path = eval_cfg.fid_weights
        vgg, linear = eval_cfg.lpips_vgg_weights, eval_cfg.lpips_linear_weights
        if not fid_path and not (vgg and linear):
            return None
        fid_network = FIDInceptionV3.from_file(fid_path) if fid_path else None
        lpips_network = LPIPSNetwork(vgg, linear) if vgg and linear else None
        comparable = bool(fid_path) and is_published_file(fid_path)
        return cls(fid_network, lpips_network, comparable)

    def add(self, method: str, bucket: str, outputs, clean) -> dict:
        """Records one bucket of a method: returns its per-image metrics (`lpips`)."""
        per_image = {}
        if self.lpips_network is not None:
            # The clean images' VGG features are computed again for every method: unlike FID's
            # 2048 numbers an image, they are about 17 MB for a 256 px image, too many to keep.
            per_image["lpips"] = self.lpips_network.distance(outputs, clean)
        if self.fid_network is not None:
            if bucket not in self._real:
                self._real[bucket] = self.fid_network.features(clean)
            self._fake.setdefault(method, {})[bucket] = self.fid_network.features(outputs)
        return per_image

    def set_metrics(self, method: str) -> dict:
        """bucket (and "all") -> {"kid", "kid_std"} and, for "all", "fid"; empty without FID.

        FID only over all images: per bucket, a few dozen images against 2048 features leave
        the covariances rank-deficient and the value dominated by N.
        """
        if self.fid_network is None:
            return {}
        out = {}
        fake = self._fake[method]
        for bucket, features in fake.items():
            mean, std = distribution_metrics.kid(features, self._real[bucket])
            out[bucket] = {"kid": mean, "kid_std": std}
        all_fake = np.concatenate(list(fake.values()))
        all_real = np.concatenate([self._real[b] for b in fake])
        mean, std = distribution_metrics.kid(all_fake, all_real)
        out["all"] = {
            "kid": mean,
            "kid_std": std,
            "fid": distribution_metrics.fid(all_fake, all_real),
        }
        return out
