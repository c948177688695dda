"""EC2 (or any machine) training entry point: local paths and plain arguments, no SageMaker environment.

    python -m model.train_ec2 --data-dir DIR --model-dir DIR [--checkpoint-dir DIR] [--output-dir DIR]
                              [--epochs 5 --batch-size 32 --arch resnet50 ...]

Several GPUs or machines: launch it under torchrun; the engine joins the process group from the environment.
"""

from __future__ import annotations

import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the folder holding `model/` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from model import engine  # noqa: E402
from model.arguments import add_path_argument, argument_parser, config_from_args  # noqa: E402


def main(argv: list[str] | None = None) -> None:
    parser = argument_parser("Train the image classifier on a local train/ valid/ test/ image folder.")
    add_path_argument(parser, "data_dir", required=True, help="folder with train/ valid/ [test/]")
    add_path_argument(parser, "model_dir", required=True, help="where the deployable model dir is written")
    add_path_argument(
        parser,
        "checkpoint_dir",
        default=None,
        help="checkpoint every epoch here and resume from it (default: no checkpoints)",
    )
    add_path_argument(parser, "output_dir", default=None, help="where metrics.json goes (default: model dir)")
    args = parser.parse_args(argv)
    config = config_from_args(args)
    engine.run_training(
        config,
        data_dir=args.data_dir,
        model_dir=args.model_dir,
        output_dir=args.output_dir or args.model_dir,
        checkpoint_dir=args.checkpoint_dir,
    )


if __name__ == "__main__":
    sys.exit(engine.run_entry_point(main))
