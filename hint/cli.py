"""The `hint` command line (also `python main.py` in a checkout): argument parsing and dispatch.

    python main.py --config config.yaml            train + evaluate (the main job)
    python main.py train --config FILE [--set k=v ...] [--resume RUN_DIR]
    python main.py evaluate --run RUN_DIR [--data DIR]
    python main.py inpaint --image IN --mask MASK --out OUT [--run RUN_DIR] [--precision P]
    python main.py denoise --image IN --out OUT [--sigma 25 | --blind] [--run RUN_DIR]
                           [--precision P]
    python main.py summary [--config FILE] [--set k=v ...] [--json]
    python main.py tune [--config FILE] [--set k=v ...] [--trials N] [--overwrite]
                        [--retrain-best] [--chief | --worker N] [--oracle HOST:PORT]
    python main.py export --run RUN_DIR --out EXPORT_DIR [--name NAME] [--version N]

Every subcommand is a function in `hint.commands`, callable in-process.
"""

from __future__ import annotations

import argparse
import os
import sys

COMMANDS = ("train", "evaluate", "inpaint", "denoise", "summary", "export", "tune")


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

    p = sub.add_parser("evaluate", help="metrics per hole-ratio bucket for a trained run")
    p.add_argument("--run", required=True, metavar="RUN_DIR")
    p.add_argument("--data", metavar="DIR", help="evaluate on this image folder instead")

    p = sub.add_parser("inpaint", help="inpaint an image (or folders): shipped model or a run")
    p.add_argument("--run", metavar="RUN_DIR", help="a trained run (default: the shipped model)")
    p.add_argument("--image", required=True, help="image file or folder")
    p.add_argument("--mask", required=True, help="mask file or folder (white/non-zero = hole)")
    p.add_argument("--out", required=True, help="output file or folder")
    p.add_argument(
        "--max-side",
        type=int,
        metavar="N",
        help="largest side the network runs at; larger images are filled hole by hole in "
        "downscaled windows (default: 256 for the shipped model, 512 for a run)",
    )
    # No TensorFlow: parsing stays fast.
    from hint.config import BLENDS, ENSEMBLES, INPAINT_COLOR_SPACE, INPAINT_COLOR_SPACES

    p.add_argument(
        "--blend",
        choices=BLENDS,
        default="poisson",
        help="poisson: blend the fill in seamlessly (Poisson image editing; +0.4-0.8 dB "
        "measured); none: paste the network's fill as it is",
    )
    p.add_argument(
        "--ensemble",
        choices=ENSEMBLES,
        default="none",
        help="dihedral: average 8 rotated/flipped passes (+0.07-0.16 dB measured, 8x the time)",
    )
    p.add_argument(
        "--color-space",
        choices=INPAINT_COLOR_SPACES,
        default=INPAINT_COLOR_SPACE,
        help="how colour images go through the network: rgb (default) or opponent run the "
        "three planes as gray images (+0.5-1.2 dB measured on saturated photos, 3x the time); "
        "joint runs R, G, B together",
    )
    precision_arg(p)

    p = sub.add_parser("denoise", help="denoise an image (or a folder): shipped models or a run")
    p.add_argument("--run", metavar="RUN_DIR", help="a denoising run (default: shipped models)")
    p.add_argument("--image", required=True, help="noisy image file or folder")
    p.add_argument("--out", required=True, help="output file or folder")
    level = p.add_mutually_exclusive_group()
    level.add_argument("--sigma", type=float, help="noise level, 0-255 (conditioned models)")
    level.add_argument(
        "--blind",
        action="store_true",
        help="no noise level given: estimated from each image for noise-conditioned models",
    )
    p.add_argument(
        "--ensemble",
        choices=ENSEMBLES,
        default="none",
        help="dihedral: average 8 rotated/flipped passes (+0.10-0.17 dB measured, 8x the time)",
    )
    precision_arg(p)

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
    return parser


def precision_arg(parser) -> None:
    from hint.config import INFERENCE_PRECISIONS  # no TensorFlow: parsing stays fast

    parser.add_argument(
        "--precision",
        choices=INFERENCE_PRECISIONS,
        default="auto",
        help="what the network computes in: mixed_bfloat16 is faster on CPUs with AVX512-BF16 "
        "or AMX and slower elsewhere; auto picks it on those CPUs, float32 elsewhere "
        "(default: %(default)s; the README has measured speed and quality)",
    )


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or (argv[0] not in COMMANDS and argv[0] not in ("-h", "--help")):
        argv.insert(0, "train")
    args = build_parser().parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

    from hint import commands

    try:
        if args.command == "train":
            commands.train(args.config, args.set, resume=args.resume, evaluate=not args.no_eval)
        elif args.command == "evaluate":
            commands.evaluate(args.run, data=args.data)
        elif args.command == "inpaint":
            commands.inpaint(
                args.run,
                args.image,
                args.mask,
                args.out,
                max_side=args.max_side,
                precision=args.precision,
                blend=args.blend,
                ensemble=args.ensemble,
                color_space=args.color_space,
            )
        elif args.command == "denoise":
            commands.denoise(
                args.run,
                args.image,
                args.out,
                sigma=args.sigma,
                blind=args.blind,
                precision=args.precision,
                ensemble=args.ensemble,
            )
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
    except commands.USER_ERRORS as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
