"""Deep Image Prior's loop on a tiny network: descent, average, backtracking, determinism."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from hint.models import DIPSkip
from hint.models.dip_skip import noise_code
from hint.tasks.dip import PriorFit
from hint.tasks.dip.prior_fit import discrepancy_stop

SIZE = 32


def _network(seed=0):
    keras.utils.set_random_seed(seed)
    return DIPSkip(
        input_channels=4,
        output_channels=3,
        channels_down=(8, 8),
        channels_up=(8, 8),
        channels_skip=(4, 4),
    )


def _image(seed=0):
    rng = np.random.default_rng(seed)
    small = rng.random((1, 8, 8, 3)).astype(np.float32)
    return tf.image.resize(small, (SIZE, SIZE)).numpy()[0]


def _fit(target=None, known=None, clean=None, seed=0, **kwargs):
    target = _image() if target is None else target
    known = np.ones((SIZE, SIZE, 1), np.float32) if known is None else known
    settings = {"lr": 0.01, "reg_noise_std": 0.03, **kwargs}
    return PriorFit(
        _network(seed),
        noise_code(SIZE, SIZE, 4, seed),
        target,
        known,
        clean=clean,
        seed=seed,
        **settings,
    )


def _outputs(fit, iterations):
    """Runs the fit, returning the output of every iteration."""
    seen = []
    result = fit.run(
        iterations, progress=False, snapshot_every=1, on_snapshot=lambda i, o, e: seen.append(o)
    )
    return result, seen


def test_the_loss_falls_and_the_average_is_the_papers():
    result, outputs = _outputs(_fit(exp_weight=0.9), 60)
    loss = result.history["loss"]
    assert np.mean(loss[-5:]) < 0.5 * np.mean(loss[:5])
    ema = outputs[0]
    for out in outputs[1:]:
        ema = 0.9 * ema + 0.1 * out
    np.testing.assert_allclose(result.ema, ema, atol=1e-6)
    np.testing.assert_array_equal(result.final, outputs[-1])
    best = int(np.argmin(loss))
    np.testing.assert_array_equal(result.best_loss, outputs[best])
    assert result.iterations == 60 and not result.interrupted


def test_deterministic_for_a_seed_and_blind_to_the_clean_image():
    a = _fit().run(8, progress=False)
    b = _fit(clean=_image(1)).run(8, progress=False)
    c = _fit(seed=1).run(8, progress=False)
    assert a.history["loss"] == b.history["loss"]  # --clean only feeds the history
    np.testing.assert_array_equal(a.final, b.final)
    assert "psnr_clean" in b.history and len(b.history["psnr_clean_ema"]) == 8
    assert a.history["loss"] != c.history["loss"]


def test_hole_pixels_of_the_degraded_image_change_nothing():
    known = np.ones((SIZE, SIZE, 1), np.float32)
    known[8:20, 10:24] = 0
    image = _image()
    other = image.copy()
    other[8:20, 10:24] = 1.0 - other[8:20, 10:24]
    a = _fit(image, known).run(6, progress=False)
    b = _fit(other, known).run(6, progress=False)
    assert a.history == b.history
    np.testing.assert_array_equal(a.final, b.final)


def test_backtracking_restores_the_last_accepted_state_bit_for_bit():
    fit = _fit(backtrack_db=5.0)
    fit.run(5, progress=False)
    # The state at the start of iteration 5, which that iteration's check accepts and keeps.
    weights = [w.numpy().copy() for w in fit.network.trainable_variables]
    slots = [v.numpy().copy() for v in fit.optimizer.variables]
    fit.run(6, progress=False)
    assert fit.backtracks == []
    # A spike: every bias far off, so the output saturates and its PSNR falls by far more
    # than 5 dB at the next check.
    for w in fit.network.trainable_variables:
        if w.path.endswith("bias"):
            w.assign(w + 50.0)
    fit.run(7, progress=False)
    assert fit.backtracks == [6]
    for now, kept in zip(fit.network.trainable_variables, weights, strict=True):
        np.testing.assert_array_equal(now.numpy(), kept)
    for now, kept in zip(fit.optimizer.variables, slots, strict=True):
        np.testing.assert_array_equal(now.numpy(), kept)
    fit.run(9, progress=False)
    assert fit.backtracks == [6]  # and it goes on from there


def test_resume_continues_exactly_and_ctrl_c_keeps_the_state(tmp_path):
    straight = _fit().run(10, progress=False)
    checkpoint = str(tmp_path / "ckpt")

    def stop(i, out, ema):
        if i == 6:
            raise KeyboardInterrupt

    first = _fit().run(
        10, progress=False, checkpoint=checkpoint, on_snapshot=stop, snapshot_every=1
    )
    assert first.interrupted and first.iterations == 6
    resumed = _fit()
    resumed.restore(checkpoint)
    assert resumed.iteration == 6
    result = resumed.run(10, progress=False)
    np.testing.assert_allclose(result.history["loss"], straight.history["loss"], rtol=1e-5)
    np.testing.assert_allclose(result.final, straight.final, atol=1e-5)


def test_estimate_is_printed_before_the_bar(capsys):
    _fit().run(6, progress=True, estimate_after=2)
    out = capsys.readouterr().out
    assert "About " in out and "more iterations" in out


def test_a_resumed_runs_bar_counts_its_own_iterations(tmp_path, capsys):
    # The bar's time per step is its elapsed time over its count: counting the earlier
    # process's iterations as well would report a rate many times too fast.
    checkpoint = str(tmp_path / "ckpt")
    first = _fit()
    first.run(6, progress=False)
    first.save(checkpoint)
    resumed = _fit()
    resumed.restore(checkpoint)
    resumed.run(12, progress=True, estimate_after=2)
    out = capsys.readouterr().out
    assert "6 more iterations" not in out  # three ran before the estimate
    assert "3 more iterations" in out and "continuing from iteration 6" in out
    assert "6/6" in out and "12/12" not in out


@pytest.mark.parametrize("factor", [2])
def test_an_operator_compares_the_downsampled_output(factor):
    small = _image()[::factor, ::factor]
    known = np.ones((SIZE // factor, SIZE // factor, 1), np.float32)

    def down(x):
        return tf.image.resize(x, (SIZE // factor, SIZE // factor), antialias=True)

    fit = PriorFit(_network(), noise_code(SIZE, SIZE, 4, 0), small, known, lr=0.01, operator=down)
    result = fit.run(3, progress=False)
    assert result.final.shape == (SIZE, SIZE, 3)


def test_discrepancy_stop_is_the_first_window_at_or_below_the_threshold():
    losses = [5.0, 4.0, 3.0, 2.0, 1.0, 1.0, 0.5]
    assert discrepancy_stop(losses, 3.0, 3) == 4  # mean(4, 3, 2) = 3
    assert discrepancy_stop(losses, 1.0, 2) == 6
    assert discrepancy_stop(losses, 0.1, 2) is None
    assert discrepancy_stop(losses[:2], 10.0, 3) is None  # fewer iterations than the window


def test_the_loop_stops_where_its_history_says_and_resumes_stopped(tmp_path):
    window = 5
    free = _fit().run(40, progress=False)
    # A threshold the fit crosses halfway: the mean of the window ending at iteration 20.
    threshold = float(np.mean(free.history["loss"][15:20]))
    expected = discrepancy_stop(free.history["loss"], threshold, window)
    assert expected is not None and expected < 40
    fit = _fit()
    stopped = fit.run(40, progress=False, stop_below=threshold, stop_window=window)
    assert stopped.stopped_at == stopped.iterations == expected
    # The same trajectory up to the stop: the rule reads the loss only.
    np.testing.assert_array_equal(stopped.history["loss"], free.history["loss"][:expected])
    fit.save(str(tmp_path / "ckpt"))
    again = _fit()
    again.restore(str(tmp_path / "ckpt"))
    resumed = again.run(40, progress=False, stop_below=threshold, stop_window=window)
    assert resumed.iterations == expected and resumed.stopped_at == expected
    assert free.stopped_at is None
