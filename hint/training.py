"""Training: strategy, run directory, data, task model and callbacks, from one `Config`.

A run directory holds everything a run produced:

```
runs/NAME/
  config.yaml              resolved config (every key, defaults filled in)
  model.keras              best network by validation PSNR (loaded with safe_mode=True)
  checkpoints/last.weights.h5  network (+ discriminator) + optimizers after the last epoch
  checkpoints/discriminator.weights.h5  the discriminator alone (what init_from transfers)
  backup/                  BackupAndRestore state: rerunning resumes from the last epoch
  log.csv                  per-epoch losses and metrics (CSVLogger)
  plots/history.png        loss / metric curves
  samples/samples.png      masked input | mask | output | ground truth (inpainting) or
                           noisy | denoised | clean (denoising)
  eval/                    evaluation tables (CSV, JSON) and figure
  tensorboard/             only with train.tensorboard: true
```
"""

from __future__ import annotations

import contextlib
import fnmatch
import math
import os
import time
import warnings

import keras
import numpy as np
import tensorflow as tf

from hint import config as config_lib
from hint import distribute_compat
from hint import losses as hint_losses
from hint.datasets import image_io, masks, pipelines, sources
from hint.tasks.denoise.denoiser import Denoiser
from hint.tasks.inpaint.inpainter import Inpainter

MODEL_FILE = "model.keras"
DISCRIMINATOR_FILE = "discriminator.weights.h5"


class TrainingError(RuntimeError):
    """A run that cannot start or continue (bad weights, NaN loss, ...)."""


# --------------------------------------------------------------------------- strategy


def select_strategy(name: str = "auto") -> tf.distribute.Strategy:
    """Returns the tf.distribute strategy for `train.strategy`.

    `auto` uses MirroredStrategy when more than one GPU is visible, else the default strategy.
    """
    config_lib._choice(name, config_lib.STRATEGIES, "train.strategy")
    if name == "multi_worker":
        return multi_worker_strategy()
    gpus = tf.config.list_logical_devices("GPU")
    if name == "mirrored" or (name == "auto" and len(gpus) > 1):
        return mirrored_strategy()
    return tf.distribute.get_strategy()


def mirrored_strategy(devices: list[str] | None = None) -> tf.distribute.MirroredStrategy:
    """MirroredStrategy over `devices` (None: every visible GPU, else the CPU).

    On CPU-only device lists the gradients are reduced on one device instead of with
    collective ops: in one process the copies share memory, and several CPU strategies made
    one after another (tests, tuning trials) otherwise collide on collective instance keys
    ("Shape mismatch in the collective instance ..."). GPUs keep TensorFlow's default (NCCL).
    """
    names = devices or [d.name for d in tf.config.list_logical_devices("GPU")]
    cpu_only = bool(names) and all(
        (tf.DeviceSpec.from_string(n).device_type or "").upper() == "CPU" for n in names
    )
    if cpu_only:
        return tf.distribute.MirroredStrategy(
            names, cross_device_ops=tf.distribute.ReductionToOneDevice()
        )
    return tf.distribute.MirroredStrategy(names or None)


def multi_worker_strategy() -> tf.distribute.MultiWorkerMirroredStrategy:
    """`MultiWorkerMirroredStrategy` over the cluster in `TF_CONFIG`, with the Keras patch.

    Create it before any other TensorFlow work in the process (TensorFlow configures its
    collective ops when the strategy is made). `hint.distribute_compat` is installed when the
    cluster has more than one worker.
    """
    if not os.environ.get("TF_CONFIG"):
        raise TrainingError(
            "train.strategy=multi_worker needs the TF_CONFIG environment variable (the cluster "
            "and this process's task); see 'Training across machines' in the README."
        )
    strategy = tf.distribute.MultiWorkerMirroredStrategy()
    if distribute_compat.is_multi_worker(strategy):
        distribute_compat.install()
    return strategy


def worker_role(strategy: tf.distribute.Strategy | None = None) -> tuple[bool, str | None]:
    """(is_chief, worker name) of this process; (True, None) outside a multi-worker cluster.

    The chief is the task of type "chief", or worker 0 when the cluster has no chief. Without a
    strategy the role is read from `TF_CONFIG` (before the strategy exists, e.g. to decide who
    writes the run directory's config). The name, e.g. "worker-1", keys per-worker folders.
    """
    if strategy is not None:
        if not distribute_compat.is_multi_worker(strategy):
            return True, None
        resolver = strategy.cluster_resolver
    elif os.environ.get("TF_CONFIG"):
        resolver = tf.distribute.cluster_resolver.TFConfigClusterResolver()
    else:
        return True, None
    task_type, task_id = resolver.task_type, resolver.task_id
    if not task_type:
        return True, None
    jobs = resolver.cluster_spec().jobs
    is_chief = task_type == "chief" or (
        task_type == "worker" and task_id == 0 and "chief" not in jobs
    )
    return is_chief, f"{task_type}-{task_id}"


def is_chief_process(cfg: config_lib.Config) -> bool:
    """Whether this process writes the run directory (always, unless a non-chief worker)."""
    return cfg.train.strategy != "multi_worker" or worker_role()[0]


# --------------------------------------------------------------------------- run directory


def make_run_dir(cfg: config_lib.Config) -> str:
    """Creates (or reuses, to resume) the run directory and writes the resolved config.

    In a multi-worker run only the chief writes the config, and `run.name` must be set: every
    host must agree on the run directory, and a restarted cluster resumes from it.
    """
    if cfg.train.strategy == "multi_worker" and not cfg.run.name:
        raise TrainingError(
            "train.strategy=multi_worker needs run.name (the same on every host), so that all "
            "workers use one run directory and a restarted cluster resumes from it."
        )
    name = cfg.run.name or time.strftime("%Y%m%d-%H%M%S")
    run_dir = os.path.join(cfg.run.dir, name)
    os.makedirs(run_dir, exist_ok=True)
    if is_chief_process(cfg):
        config_lib.dump_config(cfg, os.path.join(run_dir, "config.yaml"))
    return run_dir


def load_run_config(run_dir: str) -> config_lib.Config:
    """The resolved config of a run directory."""
    path = os.path.join(run_dir, "config.yaml")
    if not os.path.isfile(path):
        raise TrainingError(f"Not a run directory (no config.yaml): {run_dir}")
    return config_lib.load_config(path)


def load_model(
    run_dir: str, precision: str = "float32", fold_batch_norm: bool = False
) -> keras.Model:
    """Loads a run's best network (or a `.keras` file) with `safe_mode=True`.

    Args:
        run_dir: A run directory or a `.keras` file.
        precision: `"float32"`, `"mixed_bfloat16"` to compute in bfloat16 (faster on CPUs
            with AVX512-BF16 / AMX; see the README for measured speed and quality), or
            `"auto"` for the faster of the two on this machine (`resolve_precision`). Saved
            networks do not record the precision they were trained in. Defaults to `"float32"`.
        fold_batch_norm: for inference only: a `DnCNN`'s batch norms are folded into its
            convolutions (`DnCNN.fold_batch_norm`: the same outputs, faster); other networks
            are returned as they are. Defaults to `False`.
    """
    precision = resolve_precision(precision)
    path = run_dir if run_dir.endswith(".keras") else os.path.join(run_dir, MODEL_FILE)
    if not os.path.isfile(path):
        raise TrainingError(f"No trained generator at {path}: train the run first.")
    import hint.models  # registers the classes the file refers to

    with precision_policy(precision):
        model = keras.saving.load_model(path, compile=False, safe_mode=True)
        if fold_batch_norm and isinstance(model, hint.models.DnCNN):
            model = model.fold_batch_norm()  # built here, in the same precision
        return model


def check_precision(precision: str) -> None:
    """Raises `TrainingError` unless `precision` is one of `config.INFERENCE_PRECISIONS`."""
    if precision not in config_lib.INFERENCE_PRECISIONS:
        raise TrainingError(
            f"precision must be one of {config_lib.INFERENCE_PRECISIONS}. "
            f"Received: precision={precision!r}"
        )


# CPU flags (Linux /proc/cpuinfo names) of native bfloat16 arithmetic, which oneDNN uses for
# bfloat16 convolutions; without them it emulates bfloat16, which can be slower than float32
# (not measured: this project's machines all have AVX512-BF16).
BFLOAT16_CPU_FLAGS = ("avx512_bf16", "amx_bf16")


def cpu_flags(path: str = "/proc/cpuinfo") -> set[str]:
    """The CPU feature flags the kernel reports; empty where there is no `/proc/cpuinfo`."""
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.startswith("flags"):
                    return set(line.partition(":")[2].split())
    except OSError:
        pass
    return set()


def resolve_precision(precision: str, flags: set[str] | None = None) -> str:
    """The precision a network computes in at inference: `precision`, with `"auto"` resolved.

    `"auto"` is `"mixed_bfloat16"` when the CPU computes bfloat16 natively (`BFLOAT16_CPU_FLAGS`)
    and no GPU is visible, otherwise `"float32"`. Measured on this project's CPU (AVX512-BF16)
    with the shipped denoisers: 2.0-2.2x faster than float32, PSNR within 0.01 dB on Set12
    and McMaster (README, "Shipped models").

    Args:
        precision: one of `config.INFERENCE_PRECISIONS`.
        flags: the CPU flags to decide from. Defaults to None: `cpu_flags()`.
    """
    check_precision(precision)
    if precision != "auto":
        return precision
    if tf.config.list_physical_devices("GPU"):
        return "float32"  # unmeasured there: the exact path
    flags = cpu_flags() if flags is None else flags
    return "mixed_bfloat16" if flags & set(BFLOAT16_CPU_FLAGS) else "float32"


# --------------------------------------------------------------------------- data


def build_datasets(cfg: config_lib.Config):
    """Train and validation tf.data pipelines of `({"image", "mask"}, clean)` batches."""
    d = cfg.data
    try:
        train_clean, val_clean = sources.image_sources(
            path=None if d.path in (None, "embedded") else d.path,
            image_size=d.image_size,
            channels=d.channels,
            # A separate validation folder leaves every training image to training.
            val_count=0 if d.val_path is not None else d.val_count,
            flips=d.flips,
            color_augment=d.color_augment,
            seed=cfg.run.seed,
        )
    except (ValueError, image_io.ImageReadError) as e:
        # An empty or unreadable folder is the user's to fix, before any training starts.
        raise TrainingError(str(e)) from None
    if d.val_path is not None:
        crops = sources.fixed_crops(
            d.val_path, image_size=d.val_size or d.image_size, channels=d.channels
        )
        if d.color_augment == "gray_channel":
            crops = sources.gray_channels(crops)
        val_clean = tf.data.Dataset.from_tensor_slices(crops)
    elif d.val_size is not None and d.val_size != d.image_size:
        raise TrainingError("data.val_size needs data.val_path (a separate validation folder).")
    if cfg.task == "denoise":
        noise = make_degradation(cfg)
        train = pipelines.denoising_pipeline(
            train_clean, noise, d.batch_size, seed=cfg.run.seed, training=True
        )
        val = pipelines.denoising_pipeline(
            val_clean, noise, d.batch_size, seed=cfg.eval.seed, training=False
        )
        return train, val
    mask_gen = make_mask_generator(cfg)
    train = pipelines.inpainting_pipeline(
        train_clean, mask_gen, d.batch_size, seed=cfg.run.seed, training=True
    )
    # Validation crops may be larger than training crops (data.val_size): masks of their size.
    val_masks = make_mask_generator(cfg, d.val_size) if d.val_path is not None else mask_gen
    val = pipelines.validation_pipeline(val_clean, val_masks, d.batch_size, seed=cfg.eval.seed)
    return train, val


def shard_by_example(ds: tf.data.Dataset) -> tf.data.Dataset:
    """Sets DATA auto-sharding: across workers, each global batch is split by example.

    Every example's crop, mask and noise come from (seed, example index) of the whole stream, so
    with DATA sharding each worker runs the full pipeline and keeps its own part of every global
    batch: the workers see different examples (different masks and noise), and together exactly
    the batch one machine would train on. FILE sharding is wrong here: the images are decoded in
    memory or read by index through `tf.numpy_function`, so there are no file reads to split,
    and each worker's stream would restart at example 0 and repeat the others' masks and noise.
    DATA costs each worker generating (and dropping) the other workers' examples; the
    generation is cheap next to a training step. Single-worker strategies ignore the option.
    """
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return ds.with_options(options)


def trim_for_replicas(val_ds: tf.data.Dataset, batch_size: int, replicas: int):
    """Drops the last few validation examples when the last batch has fewer than `replicas`.

    `tf.distribute` splits each batch over the replicas, and a replica given no example fails
    (HINT's layers cannot run on an empty batch). Returns the dataset, unchanged when the last
    batch is empty or large enough, else without its last (fewer than `replicas`) examples.
    """
    examples = val_ds.unbatch()
    count = int(examples.reduce(np.int64(0), lambda n, _: n + 1))
    extra = count % batch_size
    if replicas <= 1 or extra == 0 or extra >= replicas:
        return val_ds
    warnings.warn(
        f"Validation: dropping the last {extra} of {count} examples so that each of the "
        f"{replicas} replicas gets at least one example of every batch.",
        stacklevel=2,
    )
    return examples.take(count - extra).batch(batch_size).prefetch(tf.data.AUTOTUNE)


def make_degradation(cfg: config_lib.Config, sigma: float | None = None):
    """The configured noise model; `sigma` (0-255) fixes a Gaussian level, e.g. to evaluate."""
    from hint.datasets import degradations

    n = cfg.data.noise
    if sigma is not None:
        return degradations.make_degradation("gaussian", sigma=sigma, clip=n.clip)
    params = {
        "gaussian": {"sigma": n.sigma, "sigma_range": n.sigma_range, "clip": n.clip},
        "poisson": {"peak": n.peak},
        "salt_pepper": {"amount": n.amount},
        "speckle": {"sigma": n.sigma},
        "quantization": {"bits": n.bits},
        "dither": {"bits": n.bits},
    }[n.kind]
    return degradations.make_degradation(n.kind, **params)


def make_mask_generator(cfg: config_lib.Config, image_size: int | None = None):
    """The configured `masks.MaskGenerator`, for `image_size` (default: the training crops)."""
    m = cfg.data.mask
    return masks.MaskGenerator(
        kind=m.kind,
        image_size=image_size or cfg.data.image_size,
        weights=m.weights,
        folder=m.folder,
    )


# --------------------------------------------------------------------------- models


def build_generator(cfg: config_lib.Config) -> keras.Model:
    cls = config_lib.model_class(cfg.model.type)
    return cls(**cfg.model.args)


def build_discriminator(cfg: config_lib.Config) -> keras.Model | None:
    """The inpainting task's discriminator; None without an adversarial loss or for denoising."""
    if cfg.task != "inpaint" or cfg.loss.adversarial <= 0:
        return None
    d = cfg.discriminator
    cls = config_lib.model_class(d.type)
    return cls(image_channels=cfg.data.channels, filters=d.filters, spectral_norm=d.spectral_norm)


@contextlib.contextmanager
def precision_policy(name: str):
    """Layers built inside compute in `name` ("float32" or "mixed_bfloat16"); restored after.

    With "mixed_bfloat16" the variables stay float32 and convolutions run in bfloat16, which
    oneDNN accelerates on CPUs with AVX512-BF16 / AMX (measured: a DnCNN 15x48 training step
    1.65x faster on this CPU). Saved networks do not record it: `load_model` computes in float32.
    """
    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy(name)
    try:
        yield
    finally:
        keras.mixed_precision.set_global_policy(previous)


def build_task(cfg: config_lib.Config) -> keras.Model:
    """Builds and compiles the task model inside the current strategy scope."""
    if cfg.task == "denoise":
        with precision_policy(cfg.train.precision):
            return build_denoiser(cfg)
    vgg_weights = cfg.loss.vgg_weights
    if cfg.loss.perceptual > 0 or cfg.loss.style > 0:
        # Fails before the first step with instructions when VGG19 weights are missing.
        vgg_weights = hint_losses.resolve_vgg_weights(vgg_weights)
    with precision_policy(cfg.train.precision):
        generator = build_generator(cfg)
    # The SN-PatchGAN stays float32: it costs a few percent of a step, and its spectral-norm
    # power iteration and logits keep full precision.
    discriminator = build_discriminator(cfg)
    if cfg.model.init_from:
        init_from(generator, discriminator, init_source(cfg))
    freeze(generator, cfg.model.freeze)
    task = Inpainter(generator, discriminator, name="inpainter")
    t, loss = cfg.train, cfg.loss
    task.compile(
        optimizer=t.optimizer,
        learning_rate=learning_rate(cfg),
        d_learning_rate=learning_rate(cfg, scale=t.d_lr_ratio),
        beta_1=t.beta_1,
        beta_2=t.beta_2,
        d_lr_ratio=t.d_lr_ratio,
        l1=loss.l1,
        perceptual=loss.perceptual,
        style=loss.style,
        adversarial=loss.adversarial,
        l1_valid=loss.l1_valid,
        ssim=loss.ssim,
        ema_momentum=t.ema_momentum,
        gan=loss.gan,
        vgg_weights=vgg_weights,
        jit_compile=t.jit_compile,
    )
    size = cfg.data.image_size
    task(
        {
            "image": tf.zeros((1, size, size, cfg.data.channels)),
            "mask": tf.zeros((1, size, size, 1)),
        }
    )
    return task


def learning_rate(cfg: config_lib.Config, scale: float = 1.0):
    """`train.lr` (times `scale`), constant or cosine-decayed to `train.lr_min` over the run.

    With `train.warmup_steps`, the rate first rises linearly from 0 to `train.lr` over those
    steps (a deep half-resolution DnCNN predicting the noise stalls at "output = input" when
    Adam starts at 1e-3 without it), and the schedule then runs over the remaining steps.
    The schedule reads the optimizer's step counter, which `BackupAndRestore` restores, so a
    resumed run continues the same curve.
    """
    t = cfg.train
    if t.lr_schedule == "constant" and not t.warmup_steps:
        return t.lr * scale
    steps = t.epochs * t.steps_per_epoch
    alpha = 1.0 if t.lr_schedule == "constant" else min(1.0, t.lr_min / t.lr)
    if not t.warmup_steps:
        return keras.optimizers.schedules.CosineDecay(t.lr * scale, steps, alpha=alpha)
    return keras.optimizers.schedules.CosineDecay(
        0.0,
        steps - t.warmup_steps,
        alpha=alpha,
        warmup_target=t.lr * scale,
        warmup_steps=t.warmup_steps,
    )


def build_denoiser(cfg: config_lib.Config) -> Denoiser:
    backbone = build_generator(cfg)
    if cfg.model.init_from:
        init_from(backbone, None, init_source(cfg))
    freeze(backbone, cfg.model.freeze)
    task = Denoiser(backbone, name="denoiser")
    t = cfg.train
    task.compile(
        optimizer=t.optimizer,
        learning_rate=learning_rate(cfg),
        beta_1=t.beta_1,
        beta_2=t.beta_2,
        loss=cfg.loss.pixel,
        ema_momentum=t.ema_momentum,
        jit_compile=t.jit_compile,
    )
    size, ch = cfg.data.image_size, cfg.data.channels
    task({"image": tf.zeros((1, size, size, ch)), "noise_level": tf.zeros((1, size, size, 1))})
    return task


def init_source(cfg: config_lib.Config) -> str:
    """`model.init_from` as a path: "pretrained" is the shipped model of the task and channels."""
    if cfg.model.init_from != config_lib.PRETRAINED:
        # Checked here, not when the config loads: a run's recorded config stays loadable (to
        # evaluate or resume it) after the run it started from is gone.
        if not os.path.exists(cfg.model.init_from):
            raise TrainingError(
                f"'model.init_from' must be {config_lib.PRETRAINED!r} (the shipped weights) or "
                "an existing run directory or .keras file. "
                f"Received: model.init_from={cfg.model.init_from!r}"
            )
        return cfg.model.init_from
    from hint import pretrained

    try:
        return pretrained.path(pretrained.for_task(cfg.task, cfg.data.channels))
    except pretrained.PretrainedError as e:
        raise TrainingError(f"model.init_from=pretrained: {e}") from None


def init_from(generator: keras.Model, discriminator: keras.Model | None, path: str) -> None:
    """Transfer learning ("HINT Initial"): copies weights from a run or a `.keras` file.

    A run directory gives its best generator and, when this run has a discriminator, the
    source run's last discriminator too (`load_discriminator`). A `DnCNN` without batch norm
    starts from a batch-normed source folded (`DnCNN.fold_batch_norm`): the same function,
    then trained as it is run at inference; from a shallower source, with identity layers
    inserted (`DnCNN.deepened`, Net2DeeperNet), again the same function. A
    `CrossPlaneDnCNN` starts from a gray `DnCNN` as that network run on the opponent colour
    planes (`CrossPlaneDnCNN.load_gray`), or from one with sparser mixing as that network
    (`CrossPlaneDnCNN.load_cross_plane`).
    """
    from hint.models import CrossPlaneDnCNN, DnCNN

    source = load_model(path)
    if isinstance(generator, CrossPlaneDnCNN) and isinstance(source, DnCNN | CrossPlaneDnCNN):
        load = generator.load_gray if isinstance(source, DnCNN) else generator.load_cross_plane
        try:
            load(source)
        except ValueError as e:
            raise TrainingError(f"model.init_from={path}: {e}") from None
        return
    if (
        isinstance(generator, DnCNN)
        and isinstance(source, DnCNN)
        and not generator.batch_norm
        and source.depth <= generator.depth
    ):
        source = source.deepened(generator.depth)  # folded, and deepened if shallower
    try:
        generator.set_weights(source.get_weights())
    except ValueError as e:
        raise TrainingError(
            f"model.init_from={path}: its generator does not match this model's architecture "
            f"({e}). Use the same model preset/arguments as the source run."
        ) from None
    donor = load_discriminator(path) if discriminator is not None else None
    if donor is not None:
        discriminator.set_weights(donor.get_weights())


def load_discriminator(run_dir: str):
    """A run's last discriminator (`checkpoints/discriminator.weights.h5`), or None.

    Args:
        run_dir: A run directory (anything else, e.g. a `.keras` file, gives None).
    """
    path = os.path.join(run_dir, "checkpoints", DISCRIMINATOR_FILE)
    if not (os.path.isdir(run_dir) and os.path.isfile(path)):
        return None
    discriminator = build_discriminator(load_run_config(run_dir))
    if discriminator is None:
        return None
    discriminator.load_weights(path)
    return discriminator


def freeze(model: keras.Model, patterns: list[str]) -> list[str]:
    """Freezes layers whose names match any glob pattern; returns the frozen names."""
    frozen = []
    for layer in model.layers:
        if any(fnmatch.fnmatch(layer.name, p) for p in patterns):
            layer.trainable = False
            frozen.append(layer.name)
    if patterns and not frozen:
        names = ", ".join(layer.name for layer in model.layers[:12])
        raise TrainingError(
            f"model.freeze={patterns} matches no layer. Layer names look like: {names}, ..."
        )
    return frozen


# --------------------------------------------------------------------------- callbacks


class BestModelCheckpoint(keras.callbacks.Callback):
    """Saves the task's network as a `.keras` file, atomically, when `monitor` improves."""

    def __init__(self, path, monitor="val_psnr", mode="max"):
        super().__init__()
        self.path = path
        self.monitor = monitor
        self.sign = 1.0 if mode == "max" else -1.0
        self.best = -math.inf

    def on_epoch_end(self, epoch, logs=None):
        value = (logs or {}).get(self.monitor)
        if value is None:
            return
        if self.sign * float(value) > self.best:
            self.best = self.sign * float(value)
            save_model_atomic(self.model.backbone, self.path)


class LastCheckpoint(keras.callbacks.Callback):
    """Writes the whole task's weights (generator, discriminator, optimizers) every epoch.

    A task with a discriminator also gets `discriminator.weights.h5` beside it: the
    discriminator alone, small enough to keep with a shipped model, which is what
    `model.init_from` transfers (`load_discriminator`).
    """

    def __init__(self, path):
        super().__init__()
        self.path = path

    def on_epoch_end(self, epoch, logs=None):
        tmp = self.path + ".tmp.weights.h5"
        self.model.save_weights(tmp)
        os.replace(tmp, self.path)
        discriminator = getattr(self.model, "discriminator", None)
        if discriminator is not None:
            target = os.path.join(os.path.dirname(self.path), DISCRIMINATOR_FILE)
            tmp = target + ".tmp.weights.h5"
            discriminator.save_weights(tmp)
            os.replace(tmp, target)


class StopOnNaN(keras.callbacks.Callback):
    """Stops training with a clear error when a loss becomes NaN or infinite."""

    def on_train_batch_end(self, batch, logs=None):
        for key, value in (logs or {}).items():
            if "loss" in key or key in ("l1", "perceptual", "style", "adversarial"):
                if value is not None and not np.isfinite(float(value)):
                    self.model.stop_training = True
                    raise TrainingError(
                        f"Training stopped: '{key}' became {value} at batch {batch}. Lower "
                        "train.lr, check the loss weights, or the input data for NaNs."
                    )


class CpuTime(keras.callbacks.Callback):
    """Adds `cpu_seconds` and `wall_seconds` to every epoch's logs, cumulative over resumes.

    CPU seconds are this process's (every thread: the training step and the tf.data workers),
    the figure a model card reports as training cost. A resumed run continues from the last
    row of its CSV log, so the totals cover the whole run. Place it before `CSVLogger`.

    Args:
        log_path: The run's CSV log, read once at the start of training.
    """

    def __init__(self, log_path: str):
        super().__init__()
        self.log_path = log_path

    def on_train_begin(self, logs=None):
        self._base = {"cpu_seconds": 0.0, "wall_seconds": 0.0}
        if os.path.isfile(self.log_path):
            import csv

            with open(self.log_path, newline="") as f:
                rows = list(csv.DictReader(f))
            for key in self._base:
                if rows and rows[-1].get(key):
                    self._base[key] = float(rows[-1][key])
        self._start = {"cpu_seconds": time.process_time(), "wall_seconds": time.time()}

    def on_epoch_end(self, epoch, logs=None):
        if logs is None:
            return
        now = {"cpu_seconds": time.process_time(), "wall_seconds": time.time()}
        for key, base in self._base.items():
            logs[key] = base + now[key] - self._start[key]


def save_model_atomic(model: keras.Model, path: str) -> None:
    tmp = path[: -len(".keras")] + ".tmp.keras"
    model.save(tmp)
    os.replace(tmp, path)


def synchronize_batch_norm(model: keras.Model) -> list[str]:
    """Makes every BatchNormalization layer use the global batch's statistics.

    For multi-worker training: unsynchronised, each worker would update its moving mean and
    variance from its own share of the batch, and the workers' models would drift apart (the
    trainable weights stay equal). Synchronised, every worker holds the same statistics, those
    one machine would compute on the whole batch. Call before the first training step (the
    flag is read when the step is traced). Returns the names of the layers changed.
    """
    changed = []
    for layer in model._flatten_layers(include_self=False):
        if isinstance(layer, keras.layers.BatchNormalization) and not layer.synchronized:
            layer.synchronized = True
            changed.append(layer.name)
    return changed


def make_callbacks(
    cfg: config_lib.Config, run_dir: str, is_chief: bool = True, worker: str | None = None
) -> list:
    """Callbacks of a run; in a cluster only the chief writes files other than its backup.

    `worker` (e.g. "worker-1") gives each worker of a cluster its own `backup/<worker>` folder:
    Keras 3's `BackupAndRestore` has no chief-only logic, and two workers writing one backup
    file collide on its HDF5 lock. Each worker restores its own copy of the same state.
    """
    ckpt_dir = os.path.join(run_dir, "checkpoints")
    backup_dir = os.path.join(run_dir, "backup", *([worker] if worker else []))
    callbacks = [
        StopOnNaN(),
        keras.callbacks.BackupAndRestore(backup_dir, delete_checkpoint=False),
    ]
    log = os.path.join(run_dir, "log.csv")
    if is_chief:
        os.makedirs(ckpt_dir, exist_ok=True)
        callbacks += [CpuTime(log), LastCheckpoint(os.path.join(ckpt_dir, "last.weights.h5"))]
    if cfg.train.ema_momentum > 0:
        # Validation runs on the weight average. At each epoch's end the average is swapped in
        # after the backup and the last checkpoint (which keep the training state as it is,
        # for resuming) and before the best-model checkpoint (which keeps the average).
        callbacks.append(keras.callbacks.SwapEMAWeights(swap_on_epoch=True))
    if is_chief:
        callbacks += [
            BestModelCheckpoint(os.path.join(run_dir, MODEL_FILE)),
            keras.callbacks.CSVLogger(log, append=True),
        ]
        if cfg.train.tensorboard:
            callbacks.append(keras.callbacks.TensorBoard(os.path.join(run_dir, "tensorboard")))
    return callbacks


# --------------------------------------------------------------------------- train


def fit_task(
    cfg: config_lib.Config,
    run_dir: str,
    extra_callbacks: tuple = (),
    verbose: int = 1,
    strategy: tf.distribute.Strategy | None = None,
):
    """Builds data and task inside the strategy and runs `fit`; returns (task, history, val).

    This is the one training routine: `train` (the `train` command) and the tuner's trials
    both call it, so a tuning trial is exactly a normal training run.
    """
    # First: a multi-worker strategy must exist before other TensorFlow work in the process.
    strategy = strategy or select_strategy(cfg.train.strategy)
    keras.utils.set_random_seed(cfg.run.seed)
    train_ds, val_ds = (shard_by_example(ds) for ds in build_datasets(cfg))
    with strategy.scope():
        task = build_task(cfg)
    is_chief, worker = worker_role(strategy)
    if worker is not None:
        replicas = strategy.num_replicas_in_sync
        if cfg.data.batch_size % replicas:
            # An uneven split would weight the examples of the smaller shares more.
            raise TrainingError(
                f"data.batch_size is the global batch, split over the {replicas} replicas of "
                f"the cluster: it must be a multiple of {replicas}. "
                f"Received: data.batch_size={cfg.data.batch_size}"
            )
        synchronize_batch_norm(task)
    if strategy.num_replicas_in_sync > 1:
        val_ds = trim_for_replicas(val_ds, cfg.data.batch_size, strategy.num_replicas_in_sync)
    history = task.fit(
        train_ds,
        validation_data=val_ds,
        epochs=cfg.train.epochs,
        steps_per_epoch=cfg.train.steps_per_epoch,
        callbacks=[*make_callbacks(cfg, run_dir, is_chief, worker), *extra_callbacks],
        verbose=verbose,
        shuffle=False,  # the tf.data pipeline shuffles, deterministically per seed
    )
    return task, history, val_ds


def train(cfg: config_lib.Config, run_dir: str | None = None, verbose: int = 1) -> str:
    """Trains a model as configured; returns the run directory.

    Rerunning with the same run directory resumes from the last finished epoch
    (`BackupAndRestore`). Afterwards the run directory holds the best generator, the CSV log,
    the history plot and a sample grid; evaluation is `hint.evaluation.evaluate_run`.
    """
    run_dir = run_dir or make_run_dir(cfg)
    task, _, val_ds = fit_task(cfg, run_dir, verbose=verbose)
    if not is_chief_process(cfg):
        return run_dir  # the chief writes the model and the reports
    model_path = os.path.join(run_dir, MODEL_FILE)
    if not os.path.isfile(model_path):
        # No validation metric was ever logged (e.g. training resumed at its last epoch).
        save_model_atomic(task.backbone, model_path)
    write_reports(cfg, run_dir, load_model(run_dir), val_ds)
    return run_dir


def write_reports(cfg, run_dir, network, val_ds) -> None:
    """History plot and sample grid from the best network on validation batches."""
    from hint import plots
    from hint.metrics import composite

    log = os.path.join(run_dir, "log.csv")
    if os.path.isfile(log):
        plots.plot_history(log, os.path.join(run_dir, "plots", "history.png"))
    if cfg.eval.samples <= 0:
        return
    rows = []
    for x, clean in val_ds:
        image, target = x["image"].numpy(), clean.numpy()
        if cfg.task == "denoise":
            names = {t.name for t in network.inputs}
            inputs = {k: v for k, v in x.items() if k in names}
            pred = network(inputs, training=False).numpy().clip(0, 1)
            rows += [(image[i].clip(0, 1), pred[i], target[i]) for i in range(len(pred))]
        else:
            mask = x["mask"].numpy()
            pred = composite(network(x, training=False), image, mask).numpy()
            rows += [(image[i], mask[i], pred[i], target[i]) for i in range(len(pred))]
        if len(rows) >= cfg.eval.samples:
            break
    titles = ("noisy", "denoised", "clean") if cfg.task == "denoise" else None
    kwargs = {"titles": titles} if titles else {}
    plots.sample_grid(
        rows[: cfg.eval.samples], os.path.join(run_dir, "samples", "samples.png"), **kwargs
    )
