"""What a run trains: its data, its network and training model, transfer learning."""

from __future__ import annotations

import fnmatch
import os

import keras
import tensorflow as tf

from hint import config as config_lib
from hint.datasets import image_io, sources
from hint.models.model_registry import model_class
from hint.task_plugin import get_task
from hint.training.errors import TrainingError


def build_datasets(cfg: config_lib.Config):
    """Train and validation pipelines of the configured task (`TaskPlugin.make_data`)."""
    data = get_task(cfg.task).make_data(cfg)
    if data is None:
        raise TrainingError(f"Task {cfg.task!r} has no training data: it trains no model.")
    return data


def clean_sources(cfg: config_lib.Config) -> tuple[tf.data.Dataset, tf.data.Dataset]:
    """Clean crops of `cfg.data`: endless augmented training crops, fixed validation crops.

    What every task's pipeline starts from (the task adds masks, noise, ...). Validation crops
    come from `data.val_path` when it is set (at `data.val_size`), else from the training
    source (`data.val_count` of its images, left out of training).
    """
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
            val_size=None if d.val_path is not None else d.val_size,
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
    return train_clean, val_clean


def build_generator(cfg: config_lib.Config) -> keras.Model:
    """The configured network; `model.remat: auto` builds it without remat (`choose_remat`)."""
    cls = model_class(cfg.model.type)
    args = dict(cfg.model.args)
    if args.get("remat") == config_lib.REMAT_AUTO:
        del args["remat"]
    return cls(**args)


def build_task(cfg: config_lib.Config) -> keras.Model:
    """The configured task's compiled training model (`TaskPlugin.build_model`).

    Call it inside the strategy scope the model trains under.
    """
    return get_task(cfg.task).build_model(cfg)


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

    name = get_task(cfg.task).shipped_model(cfg.data.channels)
    if name is None:
        raise TrainingError(
            f"model.init_from=pretrained: no shipped {cfg.task} network for "
            f"{cfg.data.channels}-channel images. Received: task={cfg.task!r}"
        )
    try:
        return pretrained.path(name)
    except pretrained.PretrainedError as e:
        raise TrainingError(f"model.init_from=pretrained: {e}") from None


def init_from(generator: keras.Model, path: str) -> None:
    """Transfer learning ("HINT Initial"): copies a network's weights from a run or `.keras` file.

    A run directory gives its best network (a task's plug-in may take more from the run, e.g.
    the inpainting discriminator). A `DnCNN` without batch norm
    starts from a batch-normed source folded (`DnCNN.fold_batch_norm`): the same function,
    then trained as it is run at inference; from a shallower source, with identity layers
    inserted (`DnCNN.deepened`, Net2DeeperNet), again the same function. A
    `CrossPlaneDnCNN` starts from a gray `DnCNN` as that network run on the opponent colour
    planes (`CrossPlaneDnCNN.load_gray`), or from one with sparser mixing as that network
    (`CrossPlaneDnCNN.load_cross_plane`).
    """
    from hint.inference import load_model
    from hint.models import CrossPlaneDnCNN, DnCNN

    source = load_model(path, precision="float32")  # only its weights are used
    if isinstance(generator, CrossPlaneDnCNN) and isinstance(source, DnCNN | CrossPlaneDnCNN):
        load = generator.load_gray if isinstance(source, DnCNN) else generator.load_cross_plane
        _inherit_inference_defaults(generator, source)
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
    _inherit_inference_defaults(generator, source)
    try:
        generator.set_weights(source.get_weights())
    except ValueError as e:
        raise TrainingError(
            f"model.init_from={path}: its generator does not match this model's architecture "
            f"({e}). Use the same model preset/arguments as the source run."
        ) from None


def _inherit_inference_defaults(generator: keras.Model, source: keras.Model) -> None:
    # The network starts as the source and is run like it (e.g. the shipped inpainter's
    # working size), unless the task's own defaults are all it had.
    inherited = getattr(source, "inference_defaults", None)
    if inherited and hasattr(generator, "inference_defaults"):
        generator.inference_defaults = {**generator.inference_defaults, **inherited}


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
