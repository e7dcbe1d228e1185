"""Deep Image Prior's optimisation loop: a network fitted to one degraded image.

Reference: Ulyanov, Vedaldi, Lempitsky, "Deep Image Prior", CVPR 2018 / IJCV 2020; the loop
follows the official notebooks (github.com/DmitryUlyanov/deep-image-prior).
"""

from __future__ import annotations

import json
import os
import shutil
import time

import keras
import numpy as np
import tensorflow as tf

from hint.optimizers import FusedAdam
from hint.tasks.dip.fit_result import FitResult

# Files of a checkpoint folder (`PriorFit.save` / `PriorFit.restore`).
_STATE_FILE = "state.json"
_ARRAYS_FILE = "arrays.npz"
_VARIABLES = "variables"


def psnr_known(output: np.ndarray, target: np.ndarray, known: np.ndarray) -> float:
    """PSNR (peak 1) of `output` against `target` on the pixels where `known` is 1."""
    weight = np.broadcast_to(known, output.shape)
    mse = float(np.sum(weight * (output - target) ** 2) / max(np.sum(weight), 1.0))
    return float("inf") if mse == 0 else -10.0 * np.log10(mse)


class PriorFit:
    """Fits a randomly initialised network to one degraded image (the Deep Image Prior loop).

    Every step feeds the fixed input code plus fresh Gaussian noise of `reg_noise_std` to the
    network (batch statistics throughout, as the official code) and takes one Adam step on the
    mean squared error between the output, seen through `operator` (identity, or a
    downsampling for super-resolution), and the degraded image on its known pixels. The loss
    never sees a clean reference: `clean` only feeds the history.

    Alongside: the moving average of the outputs (`exp_weight`, 0.99 in the paper), the output
    with the lowest loss, and backtracking. Every `check_every` iterations the PSNR of the
    output against the degraded image (on its known pixels, through `operator`) is compared
    with the last accepted check: more than `backtrack_db` below it, the weights and Adam's
    moments go back to that check and the step is skipped; otherwise the check is accepted and
    its weights and moments kept. (The official notebook checks every iteration, restores the
    weights only, keeps Adam's moments and still applies the step's gradient; restoring the
    moments and skipping the step returns exactly to a state the run has been in.)

    Deterministic for a seed: the weights (`keras.utils.set_random_seed` before building the
    network), the code and the perturbation of step `i` (a stateless draw from `(seed, i)`),
    so a run resumed from a checkpoint continues exactly as the run would have.

    Args:
        network: A Keras model from the code [1, H, W, D] to the image [1, H, W, C] in [0, 1].
        code: float32 [1, H, W, D], the fixed input.
        target: float32 [h, w, C], the degraded image (for super-resolution the small one).
        known: float32 [h, w, 1], 1 where `target` is observed, 0 where it is missing.
        lr: Adam's learning rate.
        reg_noise_std: Standard deviation of the code's perturbation.
        exp_weight: The moving average's weight of the past.
        backtrack_db: The drop in PSNR that backtracks; 0 = never.
        check_every: Iterations between checks.
        seed: The perturbations' seed.
        operator: A function from the output [1, H, W, C] to the target's size (e.g. a
            downsampling), or None for the identity.
        clean: float32 [H', W', C], a clean reference for the history only (compared with the
            top-left H' x W' of the output, which may be padded beyond it), or None.
    """

    def __init__(
        self,
        network,
        code,
        target,
        known,
        lr,
        reg_noise_std=0.03,
        exp_weight=0.99,
        backtrack_db=5.0,
        check_every=1,
        seed=0,
        operator=None,
        clean=None,
    ):
        self.network = network
        self.code = tf.constant(code, tf.float32)
        self.target = np.asarray(target, np.float32)
        self.known = np.asarray(known, np.float32)
        self.reg_noise_std = float(reg_noise_std)
        self.exp_weight = float(exp_weight)
        self.backtrack_db = float(backtrack_db)
        self.check_every = int(check_every)
        self.seed = int(seed)
        self.operator = operator
        self.clean = None if clean is None else np.asarray(clean, np.float32)
        self.optimizer = FusedAdam(learning_rate=lr)
        self.optimizer.build(network.trainable_variables)
        # Copies of the last accepted check: the weights and Adam's moments and step count.
        self._live = [*network.trainable_variables, *self.optimizer.variables]
        self._kept = [tf.Variable(v, trainable=False) for v in self._live]
        self._target = tf.constant(self.target[None])
        self._known = tf.constant(self.known[None])
        self._count = tf.maximum(tf.reduce_sum(self._known) * self.target.shape[-1], 1.0)
        self.step_fn = tf.function(self._step)
        self.apply_fn = tf.function(self._apply)
        pairs = list(zip(self._kept, self._live, strict=True))
        self.keep_fn = tf.function(lambda: [k.assign(v) for k, v in pairs])
        self.back_fn = tf.function(lambda: [v.assign(k) for k, v in pairs])
        # Loop state (saved by `save`).
        self.iteration = 0
        self.ema = None
        self.best_loss = None
        self.best = None
        self.final = None
        self.accepted_psnr = None
        self.history = {"loss": [], "psnr": []}
        if self.clean is not None:
            self.history |= {"psnr_clean": [], "psnr_clean_ema": []}
        self.backtracks = []
        self.cpu_seconds = 0.0  # process time of the iterations done, across resumes

    # ------------------------------------------------------------------ graph parts

    def _step(self, iteration):
        noise = tf.random.stateless_normal(
            tf.shape(self.code),
            seed=tf.stack([tf.constant(self.seed, tf.int64), iteration]),
            stddev=self.reg_noise_std,
        )
        with tf.GradientTape() as tape:
            out = tf.cast(self.network(self.code + noise, training=True), tf.float32)
            seen = out if self.operator is None else self.operator(out)
            loss = tf.reduce_sum(tf.square((seen - self._target) * self._known)) / self._count
        grads = tape.gradient(loss, self.network.trainable_variables)
        return loss, out[0], seen[0], grads

    def _apply(self, grads):
        self.optimizer.apply_gradients(zip(grads, self.network.trainable_variables, strict=True))

    # ------------------------------------------------------------------ the loop

    def step(self) -> None:
        """One iteration: forward, check (maybe backtrack), Adam step, moving average."""
        i = self.iteration
        started = time.process_time()
        loss, out, seen, grads = self.step_fn(tf.constant(i, tf.int64))
        loss, out, seen = float(loss), out.numpy(), seen.numpy()
        psnr = psnr_known(seen, self.target, self.known)
        backtrack = False
        if self.backtrack_db > 0 and i % self.check_every == 0:
            if self.accepted_psnr is not None and psnr < self.accepted_psnr - self.backtrack_db:
                backtrack = True
            else:
                self.accepted_psnr = psnr
                self.keep_fn()
        if backtrack:
            self.back_fn()
            self.backtracks.append(i)
        else:
            self.apply_fn(grads)
        self.final = out
        w = self.exp_weight
        self.ema = out if self.ema is None else w * self.ema + (1.0 - w) * out
        if self.best_loss is None or loss < self.best_loss:
            self.best_loss, self.best = loss, out
        self.history["loss"].append(loss)
        self.history["psnr"].append(psnr)
        if self.clean is not None:
            # The output may be padded beyond the reference: its top-left corner is the image.
            h, w = self.clean.shape[:2]
            ones = np.ones_like(self.clean[..., :1])
            self.history["psnr_clean"].append(psnr_known(out[:h, :w], self.clean, ones))
            self.history["psnr_clean_ema"].append(psnr_known(self.ema[:h, :w], self.clean, ones))
        self.iteration += 1
        self.cpu_seconds += time.process_time() - started

    def run(
        self,
        iterations: int,
        progress: bool = True,
        checkpoint: str | None = None,
        checkpoint_every: int = 0,
        on_snapshot=None,
        snapshot_every: int = 0,
        estimate_after: int = 3,
        stop_below: float | None = None,
        stop_window: int = 50,
    ) -> FitResult:
        """Runs until `iterations` are done (counting those of a resumed run).

        Args:
            iterations: The total number of iterations.
            progress: Show the time estimate and a progress bar.
            checkpoint: A folder to save the loop to every `checkpoint_every` iterations
                (`save`), or None.
            checkpoint_every: Iterations between checkpoints; 0 = only when the loop stops.
            on_snapshot: Called as `on_snapshot(iteration, output, ema)` every
                `snapshot_every` iterations and at the end.
            snapshot_every: Iterations between snapshots; 0 = none.
            estimate_after: Iterations timed for the estimate, after the first (tracing).
            stop_below: Stop once the mean loss of the last `stop_window` iterations is at or
                below this (`discrepancy_stop`); None = run all `iterations`.
            stop_window: Iterations the stopping rule averages.

        Returns:
            The `FitResult`; `interrupted` when Ctrl-C stopped it (the state so far is kept).
        """
        bar, interrupted, started, stopped_at = None, False, None, None
        start = self.iteration  # > 0 when resumed from a checkpoint
        timed_from = start + 1
        try:
            while self.iteration < iterations:
                # Checked before the step as well as after it, so a resumed fit that had
                # already stopped does not take one more step.
                if stop_below is not None and _settled(
                    self.history["loss"], stop_below, stop_window
                ):
                    stopped_at = self.iteration
                    break
                if self.iteration == timed_from:
                    started = time.perf_counter()
                self.step()
                if progress and bar is None and self.iteration >= timed_from + estimate_after:
                    per = (time.perf_counter() - started) / estimate_after
                    left = per * (iterations - self.iteration)
                    resumed = f", continuing from iteration {start}" if start else ""
                    print(
                        f"About {_duration(left)} for {iterations - self.iteration} more "
                        f"iterations ({per:.2f} s each, measured{resumed})"
                    )
                    # The bar counts this run's iterations: Progbar's time per step is its
                    # elapsed time over the count, so the iterations of a resumed run's
                    # earlier process would make its rate and estimate far too fast.
                    bar = keras.utils.Progbar(
                        iterations - start, stateful_metrics=list(self.history)
                    )
                if bar is not None:
                    bar.update(
                        self.iteration - start, [(k, v[-1]) for k, v in self.history.items()]
                    )
                done = self.iteration
                if on_snapshot is not None and snapshot_every and done % snapshot_every == 0:
                    on_snapshot(done, self.final, self.ema)
                if checkpoint and checkpoint_every and done % checkpoint_every == 0:
                    self.save(checkpoint)
        except KeyboardInterrupt:
            interrupted = True
            print(f"\nStopped at iteration {self.iteration}: keeping what it has so far.")
        if checkpoint and self.iteration:
            self.save(checkpoint)
        if (
            on_snapshot is not None
            and self.iteration
            and (not snapshot_every or self.iteration % snapshot_every)
        ):
            on_snapshot(self.iteration, self.final, self.ema)
        if bar is not None and stopped_at is not None:
            print(f"\nStopped at iteration {stopped_at}: the fit reached the noise level.")
        return self.result(interrupted, stopped_at)

    def result(self, interrupted: bool = False, stopped_at: int | None = None) -> FitResult:
        if self.final is None:
            raise ValueError("The fit has not run an iteration. Received: iteration=0")
        return FitResult(
            self.final,
            self.ema,
            self.best,
            {k: list(v) for k, v in self.history.items()},
            list(self.backtracks),
            self.iteration,
            interrupted,
            self.cpu_seconds,
            stopped_at,
        )

    # ------------------------------------------------------------------ checkpoints

    def save(self, folder: str) -> None:
        """Writes the loop's state to `folder`, replacing it in one rename."""
        parent = os.path.dirname(os.path.abspath(folder))
        os.makedirs(parent, exist_ok=True)
        tmp = f"{os.path.abspath(folder)}.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        os.makedirs(tmp)
        variables = {f"v{i}": v for i, v in enumerate([*self._live, *self._kept])}
        tf.train.Checkpoint(**variables).write(os.path.join(tmp, _VARIABLES))
        np.savez(os.path.join(tmp, _ARRAYS_FILE), final=self.final, ema=self.ema, best=self.best)
        state = {
            "iteration": self.iteration,
            "best_loss": self.best_loss,
            "accepted_psnr": self.accepted_psnr,
            "history": self.history,
            "backtracks": self.backtracks,
            "cpu_seconds": self.cpu_seconds,
        }
        with open(os.path.join(tmp, _STATE_FILE), "w") as f:
            json.dump(state, f)
        old = f"{os.path.abspath(folder)}.old"
        shutil.rmtree(old, ignore_errors=True)
        if os.path.isdir(folder):
            os.rename(folder, old)
        os.rename(tmp, folder)
        shutil.rmtree(old, ignore_errors=True)

    def restore(self, folder: str) -> None:
        """Continues from a folder written by `save` with the same network and settings."""
        variables = {f"v{i}": v for i, v in enumerate([*self._live, *self._kept])}
        tf.train.Checkpoint(**variables).read(os.path.join(folder, _VARIABLES)).assert_consumed()
        with np.load(os.path.join(folder, _ARRAYS_FILE)) as arrays:
            self.final, self.ema, self.best = arrays["final"], arrays["ema"], arrays["best"]
        with open(os.path.join(folder, _STATE_FILE)) as f:
            state = json.load(f)
        self.iteration = state["iteration"]
        self.best_loss = state["best_loss"]
        self.accepted_psnr = state["accepted_psnr"]
        self.history = state["history"]
        self.backtracks = state["backtracks"]
        self.cpu_seconds = state.get("cpu_seconds", 0.0)


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def _settled(losses, threshold: float, window: int, end: int | None = None) -> bool:
    """Whether the mean of the `window` losses before `end` (default: all) is <= `threshold`."""
    end = len(losses) if end is None else end
    return end >= window and float(np.mean(losses[end - window : end])) <= threshold


def discrepancy_stop(losses, threshold: float, window: int) -> int | None:
    """The iteration count at which `PriorFit.run(stop_below=threshold)` stops, or None.

    The first n >= `window` with mean(losses[n - window : n]) <= `threshold`: what the loop
    decides from its own history, so a finished fit's history tells where the rule would have
    stopped it.
    """
    losses = [float(v) for v in losses]
    # The loop's own test at every count, so that both agree to the last rounding.
    return next(
        (n for n in range(window, len(losses) + 1) if _settled(losses, threshold, window, n)),
        None,
    )
