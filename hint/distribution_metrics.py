"""Distances between sets of images by their features: FID and KID.

Both compare the distribution of a method's outputs with that of the real images, through the
FID Inception network's 2048 pool features (`hint.models.FIDInceptionV3`).

- **FID** fits a Gaussian to each set and returns the Fréchet distance between them. It needs
  many images: with N < 2048 the covariances are rank-deficient and FID is biased upwards by an
  amount that depends on N, so it is reported over all evaluation images with N beside it, and
  only numbers with the same N compare.
- **KID** is the squared maximum mean discrepancy with the polynomial kernel
  k(x, y) = (x . y / d + 1)^3, estimated without bias; it suits the few dozen images of one
  hole-ratio bucket. Like the reference implementations, it averages over random subsets when
  the sets are larger than `subset_size`.

References:
    Heusel et al., "GANs Trained by a Two Time-Scale Update Rule Converge to a Local Nash
    Equilibrium", NeurIPS 2017 (FID).
    Bińkowski, Sutherland, Arbel, Gretton, "Demystifying MMD GANs", ICLR 2018 (KID).
"""

from __future__ import annotations

import numpy as np
import scipy.linalg


def _features(x, name) -> np.ndarray:
    x = np.asarray(x, np.float64)
    if x.ndim != 2:
        raise ValueError(f"`{name}` must be features [N, D]. Received: {name}.shape={x.shape}")
    return x


def feature_statistics(features) -> tuple[np.ndarray, np.ndarray]:
    """(mean [D], covariance [D, D]) of features [N, D] (N >= 2), the unbiased covariance."""
    features = _features(features, "features")
    if len(features) < 2:
        raise ValueError(f"FID needs at least 2 images. Received: N={len(features)}")
    return features.mean(axis=0), np.cov(features, rowvar=False)


def frechet_distance(mu1, sigma1, mu2, sigma2) -> float:
    """The Fréchet distance between N(mu1, sigma1) and N(mu2, sigma2).

    |mu1 - mu2|^2 + tr(sigma1) + tr(sigma2) - 2 tr((sigma1 sigma2)^(1/2)). The trace of the
    root is computed as the sum of the square roots of the eigenvalues of
    sigma1^(1/2) sigma2 sigma1^(1/2), which is symmetric positive semi-definite, so no complex
    round-off appears (SciPy's `sqrtm` of the non-symmetric product can return one).
    """
    mu1, mu2 = np.asarray(mu1, np.float64), np.asarray(mu2, np.float64)
    sigma1, sigma2 = np.asarray(sigma1, np.float64), np.asarray(sigma2, np.float64)
    if mu1.shape != mu2.shape or sigma1.shape != sigma2.shape:
        raise ValueError(
            "The two Gaussians must have the same dimension. "
            f"Received: mu1.shape={mu1.shape}, mu2.shape={mu2.shape}"
        )
    root1 = _psd_sqrt(sigma1)
    middle = root1 @ sigma2 @ root1
    eigenvalues = np.linalg.eigvalsh((middle + middle.T) / 2.0)
    trace_root = np.sqrt(np.clip(eigenvalues, 0.0, None)).sum()
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2.0 * trace_root)


def _psd_sqrt(matrix: np.ndarray) -> np.ndarray:
    """The symmetric square root of a positive semi-definite matrix (negative round-off -> 0)."""
    values, vectors = scipy.linalg.eigh((matrix + matrix.T) / 2.0)
    return (vectors * np.sqrt(np.clip(values, 0.0, None))) @ vectors.T


def fid(features_a, features_b) -> float:
    """FID between two sets of features [N, D] and [M, D]."""
    return frechet_distance(*feature_statistics(features_a), *feature_statistics(features_b))


def polynomial_mmd2(x: np.ndarray, y: np.ndarray) -> float:
    """The unbiased estimate of MMD^2 with the kernel k(a, b) = (a . b / d + 1)^3."""
    d = x.shape[1]
    kxx = (x @ x.T / d + 1.0) ** 3
    kyy = (y @ y.T / d + 1.0) ** 3
    kxy = (x @ y.T / d + 1.0) ** 3
    m, n = len(x), len(y)
    # The diagonal k(x_i, x_i) is left out of the within-set means: that is what makes the
    # estimate unbiased.
    within_x = (kxx.sum() - np.trace(kxx)) / (m * (m - 1))
    within_y = (kyy.sum() - np.trace(kyy)) / (n * (n - 1))
    return float(within_x + within_y - 2.0 * kxy.mean())


def kid(
    features_a, features_b, subset_size: int = 1000, subsets: int = 100, seed: int = 0
) -> tuple[float, float]:
    """KID between two sets of features: (mean, standard deviation) over subsets.

    Sets no larger than `subset_size` are compared whole, once (standard deviation 0); larger
    ones over `subsets` random subsets of `subset_size` of each, drawn without replacement with
    `seed`.

    Raises:
        ValueError: a set has fewer than 2 images, or the feature sizes differ.
    """
    a, b = _features(features_a, "features_a"), _features(features_b, "features_b")
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"Feature sizes differ. Received: {a.shape[1]} and {b.shape[1]}")
    if min(len(a), len(b)) < 2:
        raise ValueError(f"KID needs at least 2 images a set. Received: N={len(a)}, M={len(b)}")
    m = min(len(a), len(b), subset_size)
    if m == len(a) and m == len(b):
        return polynomial_mmd2(a, b), 0.0
    rng = np.random.default_rng(seed)
    values = [
        polynomial_mmd2(
            a[rng.choice(len(a), m, replace=False)], b[rng.choice(len(b), m, replace=False)]
        )
        for _ in range(subsets)
    ]
    return float(np.mean(values)), float(np.std(values))
