"""Run, resume and distribute a search; report its trials; write and retrain the best config.

`python main.py tune` (`run_search`) loads the config, parses `tune.space`, and runs a Keras
Tuner search whose trials are normal training runs (`hint.tuning.hypermodel`). The tuning directory
`tune.dir/tune.name` holds:

```
tuning_runs/search/
  search.yaml           what is searched (trial config + space): a rerun must match it
  oracle.json, tuner0.json  Keras Tuner's state (the search resumes from it)
  trial_00/             a run directory per trial (config.yaml, model, log.csv, backup/, ...)
                        plus keras_tuner's trial.json (and error.txt if the trial failed)
  trials.csv            every trial, best first: objective, metrics, values, time, run dir
  trials.txt            the same table as printed
  plots/trials.png      the objective per trial and per hyperparameter
  best_config.yaml      the full base config with the best values, ready to train
```

Rerunning the same command resumes: finished trials are kept, an interrupted trial is run
again (resuming from its last finished epoch) and the total stays `tune.trials`;
`overwrite=True` starts over. A failed trial stops the search (no new trial starts) and
`run_search` raises `TuningError` with the first failure's error; a "best" of failed trials is
never reported.

Distributed (see `hint.tuning.distributed`): the chief serves the oracle and writes the reports;
each worker runs trials until the oracle has none left.
"""

from __future__ import annotations

import copy
import csv
import dataclasses
import gc
import json
import math
import os
import shutil
import time

import keras
import keras_tuner
import tensorflow as tf
import yaml
from keras_tuner.engine.trial import Trial, TrialStatus
from tabulate import tabulate

from hint import config as config_lib
from hint import inference, training
from hint.config import ConfigError
from hint.datasets.image_io import atomic_write
from hint.tuning import TuningError, distributed
from hint.tuning import plots as tuning_plots
from hint.tuning import space as space_lib
from hint.tuning.hypermodel import HintHyperModel

SEARCH_FILE = "search.yaml"
BEST_CONFIG_FILE = "best_config.yaml"


@dataclasses.dataclass
class SearchResult:
    """What a search left behind.

    Attributes:
        project_dir: The tuning directory (`tune.dir/tune.name`).
        role: `"local"`, `"chief"` or `"worker"`.
        rows: Every trial as a dict, best first (see `trial_rows`); empty on a worker.
        ran: The trial ids this process trained.
        best_trial: Id of the best trial, or None.
        best_values: Its hyperparameter values by config path.
        best_config_path: The written `best_config.yaml`, or None.
        retrain_dir: The run directory of `--retrain-best`, or None.
    """

    project_dir: str
    role: str
    rows: list
    ran: list
    best_trial: str | None = None
    best_values: dict = dataclasses.field(default_factory=dict)
    best_config_path: str | None = None
    retrain_dir: str | None = None


# --------------------------------------------------------------------------- oracles


class _StopWhenDone:
    """Oracle mixin: no new trial after a failed trial or once `tune.time_budget` is used.

    Lives where the oracle lives (the chief in a distributed search), so every worker is told
    to stop (`STOPPED`) after its current trial and the chief can exit.
    """

    time_budget: float | None = None
    started: float = 0.0
    stop_reason: str | None = None

    def _reason_to_stop(self) -> str | None:
        if any(t.status == TrialStatus.FAILED for t in self.trials.values()):
            return "a trial failed"
        if self.time_budget is not None and time.monotonic() - self.started >= self.time_budget:
            return f"the time budget (tune.time_budget={self.time_budget:g} s) is used up"
        return None

    @keras_tuner.synchronized
    def create_trial(self, tuner_id):
        if tuner_id not in self.ongoing_trials:
            reason = self._reason_to_stop()
            if reason is not None:
                if self.stop_reason is None:
                    print(f"Search stopped: {reason}; no new trial is started.")
                self.stop_reason = reason
                self.tuner_ids.discard(tuner_id)
                return Trial(self.hyperparameters.copy(), status=TrialStatus.STOPPED)
        return super().create_trial(tuner_id)


class RandomSearchOracle(_StopWhenDone, keras_tuner.oracles.RandomSearchOracle):
    """Random search that stops after a failure or the time budget."""


class HyperbandOracle(_StopWhenDone, keras_tuner.oracles.HyperbandOracle):
    """Hyperband that stops after a failure or the time budget."""


class BayesianOptimizationOracle(_StopWhenDone, keras_tuner.oracles.BayesianOptimizationOracle):
    """Gaussian-process Bayesian optimisation that stops after a failure or the time budget."""


def make_oracle(cfg: config_lib.Config, trial_epochs: int):
    """The oracle of `tune.algorithm`, capped at `tune.trials` trials."""
    t = cfg.tune
    common = {
        "objective": keras_tuner.Objective(t.objective, t.direction),
        # keras_tuner draws a random seed for seed=0, so 0 is shifted.
        "seed": t.seed + 1,
        "max_retries_per_trial": 0,
        # Failures are handled by _StopWhenDone (stop at the first) and reported by us.
        "max_consecutive_failed_trials": 10**9,
    }
    if t.algorithm == "random":
        oracle = RandomSearchOracle(max_trials=t.trials, **common)
    elif t.algorithm == "bayesian":
        try:
            oracle = BayesianOptimizationOracle(max_trials=t.trials, **common)
        except ImportError as e:
            raise ConfigError(f"tune.algorithm=bayesian: {e}") from None
    else:
        # Hyperband trains up to tune.epochs per model; tune.trials caps its schedule.
        oracle = HyperbandOracle(max_epochs=trial_epochs, factor=3, **common)
        oracle.max_trials = t.trials
    oracle.time_budget = t.time_budget
    oracle.started = time.monotonic()
    return oracle


# --------------------------------------------------------------------------- tuner


class HintTuner(keras_tuner.Tuner):
    """A Keras Tuner whose trials are `hint` training runs (see `HintHyperModel.fit`).

    Differences from `keras_tuner.Tuner`: the space is declared, not discovered by building
    a model; a trial trains through `HintHyperModel.fit` (`hint.training.fit_task`) in
    `trial_<id>/` with the tuner's distribution strategy, and reports the best epoch's metrics
    from the run's `log.csv`; the run directory's best model replaces keras_tuner's weight
    checkpoints; Hyperband continues a trial with `model.init_from`.

    Args:
        oracle: A keras_tuner oracle (`make_oracle`).
        hypermodel: The `HintHyperModel`.
        callbacks: Extra Keras callbacks for every trial (deep-copied per execution).
            Defaults to `()`.
        fit_verbose: `fit` verbosity of the trials. Defaults to `0`.
        **kwargs: `keras_tuner.Tuner` arguments (`directory`, `project_name`,
            `distribution_strategy`, `executions_per_trial`, ...).
    """

    def __init__(self, oracle, hypermodel, callbacks=(), fit_verbose=0, **kwargs):
        self.fit_callbacks = list(callbacks)
        self.fit_verbose = fit_verbose
        self.ran = []
        self.failed = []  # trials this process ran that did not complete
        super().__init__(oracle=oracle, hypermodel=hypermodel, **kwargs)

    def _get_tuner_fname(self):
        # A local search and the chief own the same oracle state: one file, so either one
        # resumes a search the other started. Workers keep one file each.
        name = self.tuner_id if self._is_worker() else "tuner0"
        return os.path.join(str(self.project_dir), f"{name}.json")

    def _populate_initial_space(self):
        hp = self.oracle.get_space()
        self.hypermodel.declare_hyperparameters(hp)
        self.oracle.update_space(hp)

    def run_dir(self, trial_id: str, execution: int = 0) -> str:
        """The run directory of a trial (of one execution when there are several)."""
        trial_dir = self.get_trial_dir(trial_id)
        if self.executions_per_trial > 1:
            return os.path.join(trial_dir, f"execution_{execution}")
        return trial_dir

    def run_trial(self, trial, *args, **kwargs):
        hp = trial.hyperparameters
        epochs = init_from = None
        if "tuner/epochs" in hp.values:
            # Hyperband: train to tuner/epochs; a later round continues an earlier trial.
            epochs = hp.values["tuner/epochs"]
            if "tuner/trial_id" in hp.values:
                epochs -= hp.values["tuner/initial_epoch"]
                init_from = self.run_dir(hp.values["tuner/trial_id"])
        results = []
        for execution in range(self.executions_per_trial):
            keras.backend.clear_session()
            gc.collect()
            results.append(
                self.hypermodel.fit(
                    hp,
                    None,
                    run_dir=self.run_dir(trial.trial_id, execution),
                    strategy=self.distribution_strategy,
                    epochs=epochs,
                    init_from=init_from,
                    execution=execution,
                    callbacks=copy.deepcopy(self.fit_callbacks),
                    verbose=self.fit_verbose,
                )
            )
        return results

    def load_model(self, trial):
        return inference.load_model(self.run_dir(trial.trial_id))

    def on_trial_begin(self, trial):
        super().on_trial_begin(trial)
        if self._is_worker():
            values = self.hypermodel.space.values(trial.hyperparameters.values)
            print(f"[{self.tuner_id}] trial {trial.trial_id} started: {values}", flush=True)

    def on_trial_end(self, trial):
        if trial.status != TrialStatus.COMPLETED and trial.message:
            path = os.path.join(self.get_trial_dir(trial.trial_id), "error.txt")
            with atomic_write(path, "w") as f:
                f.write(trial.message)
        super().on_trial_end(trial)
        self.ran.append(trial.trial_id)
        if trial.status != TrialStatus.COMPLETED:
            self.failed.append(trial)
        if self._is_worker():
            print(f"[{self.tuner_id}] trial {trial.trial_id} {trial.status}", flush=True)


# --------------------------------------------------------------------------- config


def load_tune_config(config_path, overrides=(), trials=None):
    """Loads the config, its raw dict and the parsed space.

    Returns:
        (cfg, raw, space): the validated `Config`, the raw dict the trials start from (file
        plus overrides) and the `hint.tuning.space.SearchSpace`.

    Raises:
        ConfigError: for any config or space problem, naming the key and its line.
    """
    overrides = list(overrides)
    if trials is not None:
        overrides.append(f"tune.trials={trials}")
    cfg = config_lib.load_config(config_path, overrides)
    raw, marks = {}, {}
    if config_path is not None:
        with open(config_path, encoding="utf-8") as f:
            text = f.read()
        raw = yaml.safe_load(text) or {}
        marks = config_lib._line_marks(text)
    space_lib.apply_overrides(raw, overrides)
    space = space_lib.parse_space(cfg, raw, source=config_path or "<defaults>", marks=marks)
    return cfg, raw, space


def make_strategy(cfg: config_lib.Config) -> tf.distribute.Strategy:
    """MirroredStrategy over `tune.devices` when listed, else `train.strategy` (auto)."""
    devices = cfg.tune.devices
    if not devices:
        return training.select_strategy(cfg.train.strategy)
    visible = tf.config.list_logical_devices()
    for name in devices:
        try:
            spec = tf.DeviceSpec.from_string(name)
        except ValueError:
            spec = None
        found = spec is not None and any(
            (spec.device_type or "").upper() == v.device_type.upper()
            and (spec.device_index is None or spec.device_index == int(v.name.rsplit(":", 1)[1]))
            for v in visible
        )
        if not found:
            raise ConfigError(
                f"'tune.devices' names a device that is not visible: {name!r}. Visible: "
                f"{', '.join(v.name for v in visible)}."
            )
    return training.mirrored_strategy(list(devices))


def _signature(hypermodel: HintHyperModel, cfg: config_lib.Config) -> dict:
    """What a trial depends on, to refuse resuming a search with another config or space."""
    trial = yaml.safe_load(yaml.safe_dump(hypermodel.trial_config({}).to_dict()))
    trial.pop("tune", None)
    for key in ("dir", "name"):
        trial["run"].pop(key, None)
    for key in hypermodel.space.keys:
        node, parts = trial, key.split(".")
        for part in parts[:-1]:
            node = node.get(part) if isinstance(node, dict) else None
        if isinstance(node, dict):
            node.pop(parts[-1], None)  # the base value of a tuned key never reaches a trial
    t = cfg.tune
    search = {
        "algorithm": t.algorithm,
        "objective": t.objective,
        "direction": t.direction,
        "seed": t.seed,
        "executions_per_trial": t.executions_per_trial,
        "space": t.space,
    }
    return yaml.safe_load(yaml.safe_dump({"search": search, "trial_config": trial}))


def _differences(old, new, prefix="") -> list[str]:
    if isinstance(old, dict) and isinstance(new, dict):
        out = []
        for key in sorted(set(old) | set(new), key=str):
            out += _differences(old.get(key), new.get(key), f"{prefix}{key}.")
        return out
    return [] if old == new else [prefix.rstrip(".")]


def _check_signature(project_dir: str, signature: dict, write: bool) -> None:
    path = os.path.join(project_dir, SEARCH_FILE)
    if os.path.isfile(path):
        with open(path, encoding="utf-8") as f:
            old = yaml.safe_load(f)
        if old != signature:
            keys = _differences(old, signature)
            shown = ", ".join(keys[:6]) + (", ..." if len(keys) > 6 else "")
            raise ConfigError(
                f"{project_dir} holds a search with another config (differs in: {shown}). "
                "Rerun with --overwrite to start over, or set tune.name to keep both."
            )
    elif write:
        with atomic_write(path, "w") as f:
            yaml.safe_dump(signature, f, sort_keys=False)


# --------------------------------------------------------------------------- chief


def serve_oracle(oracle, poll_seconds: float = 0.5) -> None:
    """Serves the oracle to the workers (gRPC) until every worker has been told to stop.

    Keras Tuner's own `start_server` polls every 20 s once stopping; this polls faster and
    reports a port that cannot be bound.
    """
    from concurrent import futures

    import grpc
    from keras_tuner.src import protos
    from keras_tuner.src.distribute import oracle_chief

    address = f"{os.environ[distributed.ENV_IP]}:{os.environ[distributed.ENV_PORT]}"
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=1))
    servicer = oracle_chief.OracleServicer(oracle)
    protos.get_service_grpc().add_OracleServicer_to_server(servicer, server)
    try:
        bound = server.add_insecure_port(address)
    except RuntimeError:
        bound = 0
    if not bound:
        raise TuningError(f"The chief cannot listen on {address} (port in use or bad address).")
    server.start()
    print(f"Chief: serving the oracle on {address}", flush=True)
    try:
        while not (servicer.stop_triggered and oracle_chief.exit_chief(oracle)):
            time.sleep(poll_seconds)
    finally:
        server.stop(grace=2)


# --------------------------------------------------------------------------- reports


def _status(trial) -> str:
    return str(trial.status)


def trial_rows(trials, space, cfg: config_lib.Config, project_dir: str) -> list[dict]:
    """One dict per trial, completed ones best first, then the others by id.

    Keys: `rank`, `trial`, `status`, the objective, the other logged metrics (best epoch),
    each tuned config path (decoded values), `epochs` (Hyperband), `seconds`, `run_dir`,
    `error` (the last line of a failed trial's traceback).
    """
    objective, direction = cfg.tune.objective, cfg.tune.direction
    rows = []
    for trial in trials:
        row = {"rank": None, "trial": trial.trial_id, "status": _status(trial)}
        score = trial.score if trial.status == TrialStatus.COMPLETED else None
        row[objective] = float(score) if score is not None else math.nan
        for name in sorted(trial.metrics.metrics):
            if name not in (objective, "seconds"):
                row[name] = float(trial.metrics.get_last_value(name))
        row.update(space.values(trial.hyperparameters.values))
        if "tuner/epochs" in trial.hyperparameters.values:
            row["epochs"] = trial.hyperparameters.values["tuner/epochs"]
        if trial.metrics.exists("seconds"):
            row["seconds"] = float(trial.metrics.get_last_value("seconds"))
        row["run_dir"] = os.path.join(project_dir, f"trial_{trial.trial_id}")
        row["error"] = _last_error_line(trial.message) if trial.message else ""
        rows.append(row)
    sign = -1.0 if direction == "max" else 1.0
    done = [r for r in rows if r["status"] == TrialStatus.COMPLETED and math.isfinite(r[objective])]
    done.sort(key=lambda r: (sign * r[objective], r["trial"]))
    rest = sorted((r for r in rows if r not in done), key=lambda r: r["trial"])
    for rank, row in enumerate(done, 1):
        row["rank"] = rank
    return done + rest


def _last_error_line(message: str) -> str:
    """The exception line(s) at the end of a traceback."""
    lines = [line for line in message.strip().splitlines() if line.strip()]
    start = len(lines) - 1
    for i in range(len(lines) - 1, -1, -1):
        line = lines[i]
        if line.startswith((" ", "\t")) or line.startswith("Traceback"):
            break
        start = i
    text = " ".join(line.strip() for line in lines[start:])
    return text if len(text) <= 600 else text[:600] + " ..."


def _cell(value):
    if isinstance(value, float):
        return value
    if isinstance(value, list | dict | bool) or value is None:
        return json.dumps(value)
    return value


def format_table(rows: list[dict], space, cfg: config_lib.Config) -> str:
    """The trial table: rank, trial, status, objective, validation metrics, values, time."""
    objective = cfg.tune.objective
    metrics = sorted(
        {k for r in rows for k in r if k.startswith("val_") and k != objective}, key=str
    )
    columns = ["rank", "trial", "status", objective, *metrics, *space.keys]
    if any("epochs" in r for r in rows):
        columns.append("epochs")
    columns.append("seconds")
    body = [["" if r.get(c) is None else _cell(r.get(c, "")) for c in columns] for r in rows]
    return tabulate(body, headers=columns, floatfmt=".4g", missingval="")


def write_reports(rows: list[dict], space, cfg: config_lib.Config, project_dir: str) -> str:
    """Writes trials.csv, trials.txt and plots/trials.png; returns the printed table."""
    table = format_table(rows, space, cfg)
    columns = []
    for row in rows:
        columns += [k for k in row if k not in columns]
    with atomic_write(os.path.join(project_dir, "trials.csv"), "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(columns)
        for row in rows:
            writer.writerow(["" if row.get(c) is None else _cell(row.get(c, "")) for c in columns])
    with atomic_write(os.path.join(project_dir, "trials.txt"), "w") as f:
        f.write(table + "\n")
    tuning_plots.plot_trials(
        rows,
        list(space),
        cfg.tune.objective,
        cfg.tune.direction,
        os.path.join(project_dir, "plots", "trials.png"),
    )
    return table


def _raise_on_failures(trials, project_dir: str, total: int | None = None) -> None:
    failed = sorted(
        (t for t in trials if t.status in (TrialStatus.FAILED, TrialStatus.INVALID)),
        key=lambda t: t.trial_id,
    )
    if not failed:
        return
    first = failed[0]
    error = _last_error_line(first.message or "no error message recorded")
    details = os.path.join(project_dir, f"trial_{first.trial_id}", "error.txt")
    raise TuningError(
        f"{len(failed)} of {total or len(trials)} trials failed; the search stopped. First "
        f"failure, trial {first.trial_id}: {error} (traceback: {details}). Fix the cause and "
        "rerun with --overwrite."
    )


# --------------------------------------------------------------------------- search


def run_search(
    config_path: str | None = "config.yaml",
    overrides=(),
    *,
    trials: int | None = None,
    overwrite: bool = False,
    retrain_best: bool = False,
    strategy: tf.distribute.Strategy | None = None,
    callbacks=(),
    verbose: int = 1,
) -> SearchResult:
    """Runs (or resumes) the configured search and writes its reports.

    Args:
        config_path: YAML config, or None for the defaults. Defaults to `"config.yaml"`.
        overrides: `section.key=value` overrides. Defaults to `()`.
        trials: Total number of trials (`tune.trials`). Defaults to `None` (the config's).
        overwrite: Delete the tuning directory and start over. Defaults to `False`.
        retrain_best: Train the best config with its full schedule and evaluate it.
            Defaults to `False`.
        strategy: A `tf.distribute` strategy for the trials. Defaults to `None`
            (`make_strategy`: `tune.devices`, else `train.strategy`).
        callbacks: Extra Keras callbacks for every trial. Defaults to `()`.
        verbose: 0 = quiet, 1 = Keras Tuner's progress and one line per epoch.
            Defaults to `1`.

    Returns:
        A `SearchResult`.

    Raises:
        ConfigError: for a bad config, space or command.
        TuningError: when a trial failed (with its error) or none completed.
    """
    role = distributed.role()
    cfg, raw, space = load_tune_config(config_path, overrides, trials)
    t = cfg.tune
    project_dir = os.path.join(t.dir, t.name)
    if role == "worker" and (overwrite or retrain_best):
        raise ConfigError("--overwrite and --retrain-best are for the chief, not a worker.")
    if overwrite and role != "worker" and os.path.isdir(project_dir):
        shutil.rmtree(project_dir)
    hypermodel = HintHyperModel(raw, space)
    trial_epochs = hypermodel.trial_config({}).train.epochs
    _check_signature(project_dir, _signature(hypermodel, cfg), write=role != "worker")
    strategy = strategy or make_strategy(cfg)
    tuner = HintTuner(
        make_oracle(cfg, trial_epochs),
        hypermodel,
        callbacks=callbacks,
        fit_verbose=2 if verbose else 0,
        directory=t.dir,
        project_name=t.name,
        distribution_strategy=strategy,
        executions_per_trial=t.executions_per_trial,
        overwrite=False,
    )
    if role != "worker":
        tuner.save()  # so that a search killed during its first trial resumes too
    if verbose:
        _print_header(cfg, space, tuner, project_dir, role, strategy)
    try:
        if role == "chief":
            tuner.oracle.verbose = verbose
            serve_oracle(tuner.oracle)
        else:
            tuner.search(verbose=verbose)
    except keras_tuner.errors.FatalError as e:
        raise TuningError(f"The search stopped: {type(e).__name__}: {e}") from None

    if role == "worker":
        # Only this worker's trials: the chief may be gone, and it reports every failure.
        _raise_on_failures(tuner.failed, project_dir, total=len(tuner.ran))
        print(f"[{tuner.tuner_id}] done: ran trials {', '.join(tuner.ran) or 'none'}", flush=True)
        return SearchResult(project_dir, role, [], list(tuner.ran))

    all_trials = list(tuner.oracle.trials.values())
    rows = trial_rows(all_trials, space, cfg, project_dir)
    table = write_reports(rows, space, cfg, project_dir) if rows else ""
    if verbose and table:
        print(table)
        print(
            f"Trials: {os.path.join(project_dir, 'trials.csv')}, plot: "
            f"{os.path.join(project_dir, 'plots', 'trials.png')}"
        )
    _raise_on_failures(all_trials, project_dir)
    if not rows or rows[0]["rank"] is None:
        raise TuningError(f"No trial completed in {project_dir}; nothing to report.")
    best = rows[0]
    best_trial = tuner.oracle.trials[best["trial"]]
    best_values = space.values(best_trial.hyperparameters.values)
    best_cfg = hypermodel.best_config(
        best_trial.hyperparameters.values, run_name=f"{t.name}-best-trial_{best['trial']}"
    )
    best_path = os.path.join(project_dir, BEST_CONFIG_FILE)
    config_lib.dump_config(best_cfg, best_path)
    result = SearchResult(
        project_dir,
        role,
        rows,
        list(tuner.ran),
        best_trial=best["trial"],
        best_values=best_values,
        best_config_path=best_path,
    )
    if verbose:
        print(
            f"Best trial {best['trial']}: {t.objective}={best[t.objective]:.4g} with {best_values}"
        )
        print(f"Best config: {best_path} (train it: python main.py --config {best_path})")
    if retrain_best:
        from hint import evaluation

        run_dir = training.make_run_dir(best_cfg)
        print(f"Retraining the best config in {run_dir}")
        training.train(best_cfg, run_dir, verbose=1 if verbose else 0)
        evaluation.evaluate_run(run_dir, verbose=bool(verbose))
        result.retrain_dir = run_dir
    return result


def _print_header(cfg, space, tuner, project_dir, role, strategy) -> None:
    t = cfg.tune
    done = sum(
        1
        for tr in getattr(tuner.oracle, "trials", {}).values()
        if tr.status == TrialStatus.COMPLETED
    )
    replicas = strategy.num_replicas_in_sync
    print(
        f"Tuning ({role}): {t.algorithm} search of {len(space)} hyperparameters, {t.trials} "
        f"trials, objective {t.objective} ({t.direction}), {replicas} replica(s) per trial, in "
        f"{project_dir}" + (f"; resuming with {done} trial(s) done" if done else "")
    )
    for param in space:
        print(f"  {param.key}: {param.describe()}")
