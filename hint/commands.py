"""The subcommands of `main.py`, as functions a test can call in-process."""

from __future__ import annotations

import json
import os

from hint import config as config_lib
from hint import training
from hint.datasets.image_io import ImageReadError
from hint.export import ExportError
from hint.inference import InferenceError
from hint.losses import VGGWeightsUnavailable
from hint.pretrained import PretrainedError
from hint.tuning import TuningError

# Errors that are the user's to fix: printed as one line, exit code 2, no traceback.
USER_ERRORS = (
    config_lib.ConfigError,
    training.TrainingError,
    InferenceError,
    ImageReadError,
    VGGWeightsUnavailable,
    FileNotFoundError,
    ExportError,
    TuningError,
    PretrainedError,
)


def train(config_path, overrides=(), resume=None, evaluate=True) -> str:
    """Trains (or resumes) a run, then evaluates it; prints where everything went."""
    if resume:
        cfg = training.load_run_config(resume)
        if overrides:
            # Only the schedule may change on resume: the model must match its checkpoints.
            allowed = ("train.epochs", "train.steps_per_epoch")
            for item in overrides:
                key = item.partition("=")[0].strip()
                if key not in allowed:
                    raise config_lib.ConfigError(
                        f"--resume accepts only {', '.join(allowed)} overrides. Received: {key}"
                    )
            cfg = config_lib.load_config(os.path.join(resume, "config.yaml"), list(overrides))
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


def evaluate(run_dir, data=None):
    """Evaluates a run per hole-ratio bucket; prints the table and where it was saved."""
    from hint import evaluation

    return evaluation.evaluate_run(run_dir, data=data)


def _network(run_dir, task, channels=3, precision="float32"):
    """A run's network, or the shipped one (`hint.pretrained`) when no run is given."""
    from hint import pretrained

    if run_dir is not None:
        return training.load_model(run_dir, precision=precision)
    name = pretrained.for_task(task, channels)
    print(f"Using the shipped {name!r} model (hint/weights/{pretrained.PRETRAINED[name].card})")
    return pretrained.load(name, precision=precision)


def inpaint(
    run_dir,
    image,
    mask,
    out,
    max_side=None,
    precision="auto",
    blend="poisson",
    ensemble="none",
    color_space=config_lib.INPAINT_COLOR_SPACE,
):
    """Inpaints a file or folders with a run's generator, or the shipped model.

    `max_side` is the largest side the network runs at (`inference.inpaint_array`); by default
    the shipped model's measured best working size, or 512 for a run's model. `precision` is
    the one the network computes in (`training.resolve_precision`: `"auto"` is bfloat16 on CPUs
    that compute it natively). `blend` is how the fill is pasted in: `"poisson"` (seamless) or
    `"none"`; `ensemble="dihedral"` averages eight rotated / flipped passes; `color_space` is
    how colour images go through the network (`"joint"`, or plane by plane: `"rgb"`, the
    default, or `"opponent"`).
    """
    from hint import inference, pretrained

    inference.check_inpaint_options(blend, ensemble, color_space)
    precision = _announce(training.resolve_precision(precision))
    generator = _network(run_dir, "inpaint", precision=precision)
    max_side = max_side or pretrained.inpaint_max_side(run_dir)
    outs = inference.inpaint_paths(
        generator,
        image,
        mask,
        out,
        max_side=max_side,
        blend=blend,
        ensemble=ensemble,
        color_space=color_space,
    )
    where = outs[0] if len(outs) == 1 else f"{len(outs)} images in {out}"
    print(f"Inpainted: {where}")
    return outs


def _announce(precision: str) -> str:
    print(f"Computing in {precision} (--precision to choose)")
    return precision


def denoise(run_dir, image, out, sigma=None, blind=False, precision="auto", ensemble="none"):
    """Denoises a file or a folder with a denoising run's network, or the shipped ones.

    Without a run, the shipped gray or colour denoiser is chosen per image. `precision` is the
    one the network computes in (`training.resolve_precision`: `"auto"` is bfloat16 on CPUs
    that compute it natively); `ensemble="dihedral"` averages eight rotated / flipped passes
    (`inference.denoise_array`).
    """
    from hint import inference, pretrained

    inference.check_denoise_request(image, sigma, ensemble)  # before the (slower) model load
    precision = _announce(training.resolve_precision(precision))
    if run_dir is not None:
        network = training.load_model(run_dir, precision=precision, fold_batch_norm=True)
    else:
        print("Using the shipped denoisers (hint/weights/, see their model cards)")
        network = pretrained.ShippedDenoisers(precision=precision)
    outs = inference.denoise_paths(network, image, out, sigma=sigma, blind=blind, ensemble=ensemble)
    where = outs[0] if len(outs) == 1 else f"{len(outs)} images in {out}"
    print(f"Denoised: {where}")
    return outs


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
    from hint.tuning import distributed

    distributed.configure(chief=chief, worker=worker, oracle=oracle)
    from hint.tuning import search

    return search.run_search(
        config_path,
        overrides,
        trials=trials,
        overwrite=overwrite,
        retrain_best=retrain_best,
        verbose=verbose,
    )


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
    return path
