"""The subcommands of `main.py`, as functions a test can call in-process."""

from __future__ import annotations

import json
import os
import textwrap

from hint import config as config_lib
from hint import official_checkpoint, training
from hint.datasets.image_io import ImageReadError, ImageWriteError
from hint.export import ExportError
from hint.inference import InferenceError
from hint.losses import VGGWeightsUnavailable
from hint.official_checkpoint import ConversionError
from hint.precision import PrecisionError
from hint.pretrained import PretrainedError
from hint.task_plugin import UnknownTaskError, get_task
from hint.torch_weights import WeightsError


class SearchError(RuntimeError):
    """A hyperparameter search that cannot start or whose trials failed."""


# Errors that are the user's to fix: printed as one line, exit code 2, no traceback.
USER_ERRORS = (
    config_lib.ConfigError,
    training.TrainingError,
    InferenceError,
    ImageReadError,
    ImageWriteError,
    VGGWeightsUnavailable,
    FileNotFoundError,
    ExportError,
    SearchError,
    PretrainedError,
    PrecisionError,
    UnknownTaskError,
    WeightsError,
    ConversionError,
)


def train(config_path, overrides=(), resume=None, evaluate=True) -> str:
    """Trains (or resumes) a run, then evaluates it; prints where everything went."""
    if resume:
        if os.path.isfile(os.path.join(resume, official_checkpoint.SOURCE_FILE)):
            # A converted checkpoint has no training state: "resuming" would train afresh over
            # its model.keras.
            raise training.TrainingError(
                f"{resume} holds converted weights, not a training run: nothing to resume. "
                f"Fine-tune them in a new run with --set model.init_from={resume}"
            )
        config_lib.check_override_keys(
            overrides,
            ("train.epochs", "train.steps_per_epoch"),
            "train --resume --set",
            "the model must match its checkpoints",
        )
        cfg = training.load_run_config(resume, overrides)
        run_dir = resume
        if training.is_chief_process(cfg):
            config_lib.dump_config(cfg, os.path.join(run_dir, "config.yaml"))
    else:
        cfg = config_lib.load_config(config_path, list(overrides))
        run_dir = training.make_run_dir(cfg)
    print(f"Run directory: {run_dir}")
    training.train(cfg, run_dir)
    if not training.is_chief_process(cfg):
        print(f"Done: this worker's part of the run; the chief writes {run_dir}")
        return run_dir
    if evaluate:
        from hint import evaluation

        evaluation.evaluate_run(run_dir)
    print(f"Done: model, log, plots, samples and evaluation in {run_dir}")
    return run_dir


def evaluate(run_dir, data=None, overrides=()):
    """Evaluates a run per hole-ratio bucket; prints the table and where it was saved."""
    from hint import evaluation

    return evaluation.evaluate_run(run_dir, data=data, overrides=overrides)


def infer(task: str, args) -> list[str]:
    """A task's inference command (`python main.py inpaint ...`) on parsed arguments."""
    return get_task(task).run_inference(args)


def tune(
    config_path="config.yaml",
    overrides=(),
    trials=None,
    overwrite=False,
    retrain_best=False,
    chief=False,
    worker=None,
    oracle=None,
    verbose=1,
):
    """Hyperparameter search (Keras Tuner) over `tune.space`; see `hint.tuning.search.run_search`.

    `chief` / `worker` / `oracle` set Keras Tuner's `KERASTUNER_*` variables for a distributed
    search before keras_tuner is imported. Returns a `hint.tuning.search.SearchResult`.
    """
    # Only this command imports the tuner (and keras_tuner).
    from hint.tuning import TuningError, distributed

    distributed.configure(chief=chief, worker=worker, oracle=oracle)
    from hint.tuning import search

    try:
        return search.run_search(
            config_path,
            overrides,
            trials=trials,
            overwrite=overwrite,
            retrain_best=retrain_best,
            verbose=verbose,
        )
    except TuningError as e:
        raise SearchError(str(e)) from None


def summary(config_path, overrides=(), as_json=False):
    """Parameters and MACs per component of the configured generator and discriminator."""
    from hint import summary as summary_lib

    cfg = config_lib.load_config(config_path, list(overrides))
    report = summary_lib.model_report(cfg)
    if as_json:
        print(json.dumps(report, indent=2))
    else:
        print(summary_lib.format_report(report))
    return report


def export(run_dir, out_dir, name="hint", version=None) -> str:
    """Exports a run as a TF Serving SavedModel version; prints how to serve and call it."""
    from hint import export as export_lib

    path = export_lib.export_run(run_dir, out_dir, name=name, version=version)
    print(f"Exported: {path}")
    print(export_lib.serving_instructions(path))
    task = get_task(training.load_run_config(run_dir).task) if os.path.isdir(run_dir) else None
    if task is not None and task.serving_note:
        print(textwrap.fill(task.serving_note, width=100))
    return path


def convert_official(checkpoint, out_dir, preset="hint") -> str:
    """Converts the HINT authors' generator checkpoint into a run directory; prints how to use it.

    See `hint.official_checkpoint.convert_checkpoint` (the mapping, the run directory, the
    errors).
    """
    from hint import official_checkpoint

    path = official_checkpoint.convert_checkpoint(checkpoint, out_dir, preset=preset)
    defaults = ", ".join(f"{k}={v}" for k, v in official_checkpoint.INFERENCE_DEFAULTS.items())
    print(f"Converted {checkpoint} to {path} (inference defaults: {defaults})")
    print(f"  python main.py inpaint --run {path} --image photo.png --mask mask.png --out out.png")
    print(
        "The weights are the HINT authors' (official repository: "
        f"{official_checkpoint.OFFICIAL_REPOSITORY}); their training data's terms apply to "
        "their use (docs/inpainting.md)."
    )
    return path
