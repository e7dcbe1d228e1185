"""The `hint` command line (also `python main.py` in a checkout): argument parsing and dispatch.

    python main.py --config config.yaml            train + evaluate (the main job)
    python main.py train --config FILE [--set k=v ...] [--resume RUN_DIR]
    python main.py evaluate --run RUN_DIR [--data DIR] [--set eval.KEY=VALUE ...]
    python main.py inpaint --image IN --mask MASK --out OUT [--run RUN_DIR] [--precision P]
    python main.py denoise --image IN --out OUT [--sigma 25 | --blind] [--run RUN_DIR]
                           [--precision P]
    python main.py summary [--config FILE] [--set k=v ...] [--json]
    python main.py tune [--config FILE] [--set k=v ...] [--trials N] [--overwrite]
                        [--retrain-best] [--chief | --worker N] [--oracle HOST:PORT]
    python main.py export --run RUN_DIR --out EXPORT_DIR [--name NAME] [--version N]
    python main.py convert-official CHECKPOINT.pth --out RUN_DIR [--preset hint]

Every subcommand is a function in `hint.commands`, callable in-process.
"""

from __future__ import annotations

import argparse
import os
import sys

# Before TensorFlow is imported (by `hint`): no C++ log lines on the user's terminal.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from hint.task_plugin import get_task, task_names  # noqa: E402

# The generic commands; each task with an inference command adds its own (`inpaint`, ...).
COMMANDS = ("train", "evaluate", "summary", "export", "tune", "convert-official")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description="hint: train, evaluate, export and tune image-restoration models; inpaint "
        "and denoise your own images."
    )
    sub = parser.add_subparsers(dest="command", required=True)

    def config_args(p, default="config.yaml"):
        p.add_argument("--config", default=default, help="YAML config (default: %(default)s)")
        p.add_argument(
            "--set",
            nargs="+",
            default=[],
            metavar="KEY=VALUE",
            help="override config keys, e.g. --set train.epochs=3 model.dim=16",
        )

    p = sub.add_parser("train", help="train a model and evaluate it (the default command)")
    config_args(p)
    p.add_argument("--resume", metavar="RUN_DIR", help="continue an interrupted run")
    p.add_argument("--no-eval", action="store_true", help="skip the evaluation after training")

    p = sub.add_parser("evaluate", help="a trained run through its task's evaluation protocol")
    p.add_argument("--run", required=True, metavar="RUN_DIR")
    p.add_argument("--data", metavar="DIR", help="evaluate on this image folder instead")
    p.add_argument(
        "--set",
        nargs="+",
        default=[],
        metavar="KEY=VALUE",
        help="eval.* keys only, e.g. --set eval.fid_weights=pt_inception-2015-12-05-6726825d.pth",
    )

    # One inference command per task that has one (`TaskPlugin.add_inference_arguments`).
    for name in task_names():
        plugin = get_task(name)
        if plugin.has_inference_command:
            plugin.add_inference_arguments(sub.add_parser(name, help=plugin.summary))

    p = sub.add_parser("tune", help="hyperparameter search over tune.space (Keras Tuner)")
    config_args(p)
    p.add_argument("--trials", type=int, metavar="N", help="total trials (default: tune.trials)")
    p.add_argument("--overwrite", action="store_true", help="start the search over")
    p.add_argument(
        "--retrain-best", action="store_true", help="train and evaluate the best config after"
    )
    role = p.add_mutually_exclusive_group()
    role.add_argument("--chief", action="store_true", help="serve the oracle to workers")
    role.add_argument("--worker", type=int, metavar="N", help="run trials for the chief")
    p.add_argument(
        "--oracle", metavar="HOST:PORT", help="the chief's address (chief default 0.0.0.0:8000)"
    )

    p = sub.add_parser("summary", help="parameters and multiply-accumulates per component")
    config_args(p)
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")

    p = sub.add_parser("export", help="export a run as a TF Serving SavedModel version")
    p.add_argument("--run", required=True, metavar="RUN_DIR")
    p.add_argument("--out", required=True, metavar="EXPORT_DIR", help="export root folder")
    p.add_argument("--name", default="hint", help="served model name (default: %(default)s)")
    p.add_argument("--version", type=int, help="version number (default: the next free one)")

    p = sub.add_parser(
        "convert-official",
        help="the HINT authors' PyTorch checkpoint as a run directory (needs PyTorch)",
    )
    p.add_argument("checkpoint", help="the official generator file (InpaintingModel_gen.pth)")
    p.add_argument("--out", required=True, metavar="RUN_DIR", help="run directory to create")
    p.add_argument(
        "--preset",
        default="hint",
        help="the HINT preset the checkpoint was trained at (default: %(default)s, the official "
        "configuration of the released checkpoints)",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    known = (*COMMANDS, *task_names(), "-h", "--help")
    if not argv or argv[0] not in known:
        argv.insert(0, "train")
    args = build_parser().parse_args(argv)

    from hint import commands

    try:
        if args.command == "train":
            commands.train(args.config, args.set, resume=args.resume, evaluate=not args.no_eval)
        elif args.command == "evaluate":
            commands.evaluate(args.run, data=args.data, overrides=args.set)
        elif args.command == "summary":
            commands.summary(args.config, args.set, as_json=args.json)
        elif args.command == "tune":
            commands.tune(
                args.config,
                args.set,
                trials=args.trials,
                overwrite=args.overwrite,
                retrain_best=args.retrain_best,
                chief=args.chief,
                worker=args.worker,
                oracle=args.oracle,
            )
        elif args.command == "export":
            commands.export(args.run, args.out, name=args.name, version=args.version)
        elif args.command == "convert-official":
            commands.convert_official(args.checkpoint, args.out, preset=args.preset)
        else:
            commands.infer(args.command, args)
    except commands.USER_ERRORS as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
