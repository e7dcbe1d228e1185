"""FID and KID against closed forms and independent computations."""

import numpy as np
import pytest
import scipy.linalg

from hint import distribution_metrics as dm


def _random_spd(rng, d):
    a = rng.normal(size=(d, 2 * d))
    return a @ a.T / (2 * d) + 0.1 * np.eye(d)


def test_frechet_distance_of_diagonal_gaussians_is_the_closed_form():
    rng = np.random.default_rng(0)
    mu1, mu2 = rng.normal(size=5), rng.normal(size=5)
    s1, s2 = rng.uniform(0.1, 2.0, 5), rng.uniform(0.1, 2.0, 5)
    expected = np.sum((mu1 - mu2) ** 2) + np.sum(s1 + s2 - 2 * np.sqrt(s1 * s2))
    got = dm.frechet_distance(mu1, np.diag(s1), mu2, np.diag(s2))
    assert got == pytest.approx(expected, rel=1e-10)


def test_frechet_distance_of_a_gaussian_with_itself_is_zero():
    rng = np.random.default_rng(1)
    sigma = _random_spd(rng, 8)
    mu = rng.normal(size=8)
    assert abs(dm.frechet_distance(mu, sigma, mu, sigma)) < 1e-9


def test_frechet_distance_equals_the_scipy_sqrtm_formula():
    # The formula of the FID reference code, computed independently with SciPy's sqrtm.
    rng = np.random.default_rng(2)
    for d in (3, 16):
        mu1, mu2 = rng.normal(size=d), rng.normal(size=d)
        s1, s2 = _random_spd(rng, d), _random_spd(rng, d)
        root = scipy.linalg.sqrtm(s1 @ s2).real
        expected = np.sum((mu1 - mu2) ** 2) + np.trace(s1 + s2 - 2 * root)
        assert dm.frechet_distance(mu1, s1, mu2, s2) == pytest.approx(expected, rel=1e-8)


def test_fid_of_features_uses_the_sample_mean_and_unbiased_covariance():
    rng = np.random.default_rng(3)
    a, b = rng.normal(size=(40, 6)), rng.normal(1.0, 2.0, size=(50, 6))
    mu_a, mu_b = a.mean(0), b.mean(0)
    ca = (a - mu_a).T @ (a - mu_a) / 39
    cb = (b - mu_b).T @ (b - mu_b) / 49
    expected = np.sum((mu_a - mu_b) ** 2) + np.trace(ca + cb - 2 * scipy.linalg.sqrtm(ca @ cb).real)
    assert dm.fid(a, b) == pytest.approx(expected, rel=1e-8)


def test_fid_handles_rank_deficient_covariances():
    # Fewer images than features, as with a few dozen evaluation images and 2048 features.
    rng = np.random.default_rng(4)
    a, b = rng.normal(size=(10, 64)), rng.normal(size=(12, 64))
    value = dm.fid(a, b)
    assert np.isfinite(value) and value > 0


def _mmd2_by_loops(x, y):
    """The unbiased MMD^2 of Bińkowski et al., eq. (2), written term by term."""
    d = x.shape[1]
    k = lambda a, b: (a @ b / d + 1) ** 3  # noqa: E731
    m, n = len(x), len(y)
    xx = sum(k(x[i], x[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    yy = sum(k(y[i], y[j]) for i in range(n) for j in range(n) if i != j) / (n * (n - 1))
    xy = sum(k(x[i], y[j]) for i in range(m) for j in range(n)) / (m * n)
    return xx + yy - 2 * xy


def test_kid_of_whole_sets_is_the_unbiased_formula():
    rng = np.random.default_rng(5)
    a, b = rng.normal(size=(9, 4)), rng.normal(0.5, 1.0, size=(9, 4))
    mean, std = dm.kid(a, b)
    assert mean == pytest.approx(_mmd2_by_loops(a, b), rel=1e-10)
    assert std == 0.0


def test_kid_is_unbiased_near_zero_for_one_distribution():
    rng = np.random.default_rng(6)
    values = [dm.kid(rng.normal(size=(30, 8)), rng.normal(size=(30, 8)))[0] for _ in range(40)]
    # Unbiased: the mean over draws of the same distribution is 0 within its standard error.
    assert abs(np.mean(values)) < 3 * np.std(values) / np.sqrt(len(values))


def test_kid_averages_subsets_of_larger_sets_reproducibly():
    rng = np.random.default_rng(7)
    a, b = rng.normal(size=(50, 4)), rng.normal(0.3, 1.0, size=(60, 4))
    first = dm.kid(a, b, subset_size=20, subsets=10, seed=3)
    assert first == dm.kid(a, b, subset_size=20, subsets=10, seed=3)
    picks = np.random.default_rng(3)
    expected = np.mean(
        [
            _mmd2_by_loops(
                a[picks.choice(50, 20, replace=False)], b[picks.choice(60, 20, replace=False)]
            )
            for _ in range(10)
        ]
    )
    assert first[0] == pytest.approx(expected, rel=1e-9)
    assert first[1] > 0


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: dm.fid(np.zeros((1, 3)), np.zeros((5, 3))), "at least 2"),
        (lambda: dm.kid(np.zeros((5, 3)), np.zeros((5, 4))), "Feature sizes differ"),
        (lambda: dm.kid(np.zeros(5), np.zeros((5, 4))), "must be features"),
    ],
)
def test_bad_features_raise_a_readable_error(call, message):
    with pytest.raises(ValueError, match=message):
        call()
