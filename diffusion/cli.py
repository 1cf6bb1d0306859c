"""`python -m diffusion train | sample | evaluate | figure | trajectories | animate | presets`: the dashboard's code.

Every failure the user can cause (a bad setting, a bad file, a run that diverges) ends with exit
status 1 or 2 and exactly one line on stderr; no traceback.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import tempfile
import threading
from pathlib import Path

from .config import DATA_SETS, MODEL_FIELDS, PRESETS, ConfigError, DiffusionConfig, check_n_points, check_seed

DEFAULTS = DiffusionConfig()
# `train --preset NAME` (config.PRESETS): a whole recipe at once; flags after it on the command line override it.
# The preset's fields that are `train` flags of the same name (steps goes through preset_steps, so
# that --max-seconds after a preset replaces its length instead of joining it).
_PRESET_FIELDS = MODEL_FIELDS + ("timestep_sampling", "lr", "lr_schedule", "ema_decay", "batch_size", "seed", "device")


class _Parser(argparse.ArgumentParser):
    """argparse that reports a usage error as one line (argparse prints usage plus the error)."""

    def error(self, message: str):  # noqa: D401 - argparse API
        raise _UsageError(message)


class _UsageError(Exception):
    pass


class _PresetAction(argparse.Action):
    """Set every training flag to the preset's value where it stands, so later flags win."""

    def __call__(self, parser, namespace, value, option_string=None):
        if value not in PRESETS:
            parser.error(f"argument --preset: unknown preset {value!r}; allowed: {', '.join(PRESETS)}")
        config = PRESETS[value]
        for name in _PRESET_FIELDS:
            setattr(namespace, name, getattr(getattr(config, name), "value", getattr(config, name)))
        namespace.preset_steps = config.steps
        setattr(namespace, self.dest, value)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m diffusion", description="The 2015 diffusion model on the Swiss roll.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    train = sub.add_parser("train", help="train a model and write DIR/model.pt")
    train.add_argument(
        "--preset",
        action=_PresetAction,
        default=None,
        help=f"start from a recipe ({' | '.join(PRESETS)}); flags after it override it",
    )
    train.add_argument("--T", type=int, default=DEFAULTS.T, help="number of diffusion steps (default %(default)s)")
    train.add_argument("--beta-start", type=float, default=DEFAULTS.beta_start)
    train.add_argument("--beta-end", type=float, default=DEFAULTS.beta_end)
    train.add_argument(
        "--schedule", default=DEFAULTS.schedule.value, help="sigmoid | linear | cosine | paper | geometric"
    )
    train.add_argument("--width", type=int, default=DEFAULTS.width)
    train.add_argument("--parameterization", default=DEFAULTS.parameterization.value, help="paper | tutorial")
    train.add_argument(
        "--data-scale",
        default=DEFAULTS.data_scale.value,
        help="tutorial (the roll / 10) | unit (centred, variance 1 per axis on average: Table 1's protocol)",
    )
    train.add_argument(
        "--learn-betas",
        action=argparse.BooleanOptionalAction,
        default=DEFAULTS.learn_betas,
        help="train beta_2..beta_T with the network, as the paper does",
    )
    train.add_argument("--network", default=DEFAULTS.network.value, help="mlp (the tutorial's) | rbf (the paper's)")
    data = train.add_mutually_exclusive_group()
    data.add_argument("--data", default=DEFAULTS.data, help=f"the data set: {' | '.join(DATA_SETS[:-1])}")
    data.add_argument(
        "--data-file", default=None, help="your own points: a CSV of x, y (columns x and y, or two columns)"
    )
    train.add_argument(
        "--timestep-sampling", default=DEFAULTS.timestep_sampling.value, help="all | one (the tutorial's)"
    )
    train.add_argument("--lr", type=float, default=DEFAULTS.lr)
    train.add_argument("--lr-schedule", default=DEFAULTS.lr_schedule.value, help="cosine | constant")
    train.add_argument("--ema-decay", type=float, default=DEFAULTS.ema_decay)
    train.add_argument("--batch-size", type=int, default=DEFAULTS.batch_size)
    length = train.add_mutually_exclusive_group()
    length.add_argument("--steps", type=int, default=None, help=f"training steps (default {DEFAULTS.steps})")
    length.add_argument("--max-seconds", type=float, default=None, help="train for this many seconds instead")
    train.add_argument("--seed", type=int, default=DEFAULTS.seed)
    train.add_argument("--device", default=DEFAULTS.device, help="auto | cpu | cuda | mps")
    train.add_argument("--out", required=True, help="output folder; the model goes to OUT/model.pt")
    train.add_argument("--quiet", action="store_true", help="no progress bar")

    sample = sub.add_parser("sample", help="draw x_0 samples into an (N, 2) float32 .npy file")
    sample.add_argument("--checkpoint", required=True)
    sample.add_argument("--n", type=int, default=5000)
    sample.add_argument("--seed", type=int, default=0)
    sample.add_argument("--out", required=True)
    sample.add_argument("--device", default="auto")

    evaluate = sub.add_parser("evaluate", help="print the bound and sample quality as one JSON object")
    evaluate.add_argument("--checkpoint", required=True)
    evaluate.add_argument("--n", type=int, default=5000, help="held-out points for the bound and samples for quality")
    evaluate.add_argument("--seed", type=int, default=0)
    evaluate.add_argument("--device", default="auto")

    figure = sub.add_parser("figure", help="write the paper's Figure 1 as self-contained HTML, or as a slide's PNG")
    figure.add_argument("--checkpoint", required=True)
    figure.add_argument("--out", required=True, help="OUT.html (interactive) or OUT.png (1920x1080)")
    figure.add_argument("--n", type=int, default=1500, help="points per panel")
    figure.add_argument("--seed", type=int, default=0)
    figure.add_argument("--device", default="auto")

    animate = sub.add_parser("animate", help="write the Forward or Reverse page's animation as a GIF or MP4")
    animate.add_argument("--checkpoint", required=True)
    animate.add_argument("--chain", choices=("reverse", "forward"), default="reverse")
    animate.add_argument("--out", required=True, help="OUT.gif (loops) or OUT.mp4 (H.264)")
    animate.add_argument("--n", type=int, default=2000, help="points (default %(default)s)")
    animate.add_argument("--seed", type=int, default=0)
    animate.add_argument("--size", type=int, default=800, help="side of the square frames in pixels")
    animate.add_argument("--fps", type=int, default=10, help="frames a second (default %(default)s)")
    animate.add_argument("--device", default="auto")
    animate.add_argument(
        "--compare",
        nargs="+",
        metavar="CHECKPOINT",
        help="1 to 3 more models whose reverse chains play beside --checkpoint's, from the same noise "
        "(the Compare page's animation; --size is then each panel's side)",
    )

    presets = sub.add_parser("presets", help="train every shipped preset (diffusion/presets.py) into DIR/NAME.pt")
    presets.add_argument("--out", required=True, help="output folder, e.g. assets/presets")
    presets.add_argument("--only", nargs="+", default=None, metavar="NAME", help="just these presets")
    presets.add_argument("--quiet", action="store_true", help="no line per preset")
    presets.add_argument(
        "--measure", action="store_true", help="only measure the files already in DIR into DIR/measured.json"
    )

    traj = sub.add_parser("trajectories", help="write every point's path through a chain as a (T+1, N, 2) .npy")
    traj.add_argument("--checkpoint", required=True)
    traj.add_argument("--chain", choices=("reverse", "forward"), default="reverse")
    traj.add_argument("--n", type=int, default=20)
    traj.add_argument("--seed", type=int, default=0)
    traj.add_argument("--out", required=True)
    traj.add_argument("--device", default="auto")
    return parser


def main(argv: list[str] | None = None) -> int:
    from .checkpoint import CheckpointError
    from .train import TrainingDiverged

    try:
        args = build_parser().parse_args(argv)
        commands = {
            "train": _train,
            "sample": _sample,
            "evaluate": _evaluate,
            "figure": _figure,
            "trajectories": _trajectories,
            "animate": _animate,
            "presets": _presets,
        }
        return commands[args.command](args)
    except _UsageError as exc:
        return _fail(f"usage error: {exc}", status=2)
    except (ConfigError, CheckpointError, TrainingDiverged) as exc:
        return _fail(str(exc))
    except OSError as exc:
        where = f" ({exc.filename})" if exc.filename else ""
        return _fail(f"cannot write or read a file: {exc.strerror or exc}{where}")
    except KeyboardInterrupt:
        return _fail("interrupted", status=130)


def _fail(message: str, status: int = 1) -> int:
    print(f"error: {message}", file=sys.stderr)
    return status


def _config_from_args(args) -> DiffusionConfig:
    steps, seconds = args.steps, args.max_seconds
    if steps is None and seconds is None:
        steps = getattr(args, "preset_steps", None) or DEFAULTS.steps
    return DiffusionConfig(
        T=args.T,
        beta_start=args.beta_start,
        beta_end=args.beta_end,
        schedule=args.schedule,
        width=args.width,
        parameterization=args.parameterization,
        data_scale=args.data_scale,
        learn_betas=args.learn_betas,
        network=args.network,
        data="custom" if args.data_file else args.data,
        timestep_sampling=args.timestep_sampling,
        lr=args.lr,
        lr_schedule=args.lr_schedule,
        ema_decay=args.ema_decay,
        batch_size=args.batch_size,
        steps=steps,
        max_seconds=seconds,
        seed=args.seed,
        device=args.device,
    ).validate()


class _Terminated(Exception):
    """SIGTERM, raised in the main thread the way Python raises KeyboardInterrupt for SIGINT."""


def _raise_terminated(signum, frame):
    raise _Terminated


def _writable_folder(text: str) -> Path:
    """The --out folder, made and shown writable before training: a run that fails only at the
    save has lost all its training."""
    if not text.strip():
        raise _UsageError("--out: give a folder for model.pt (the path is empty)")
    folder = Path(text)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".write-test.", dir=folder)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise _UsageError(f"--out: cannot write model.pt in {folder} ({exc.strerror or exc})") from None
    return folder


def _dataset_from_args(args):
    """The user's CSV as a data set (None for a named one); its note goes to stderr."""
    from .datasets import CSV_BYTES_MAX, PointsError, points_from_csv

    if not args.data_file:
        return None
    path = Path(args.data_file)
    try:
        if path.stat().st_size > CSV_BYTES_MAX:
            raise _UsageError(f"--data-file: {path} is larger than {CSV_BYTES_MAX // 2**20} MB")
        dataset, note = points_from_csv(path.read_bytes(), source=path.name)
    except OSError as exc:
        raise _UsageError(f"--data-file: cannot read {path} ({exc.strerror or exc})") from None
    except PointsError as exc:
        raise _UsageError(f"--data-file: {path}: {exc}") from None
    if note:
        print(f"note: {note}", file=sys.stderr)
    return dataset


def _train(args) -> int:
    config = _config_from_args(args)
    dataset = _dataset_from_args(args)
    out = _writable_folder(args.out) / "model.pt"
    # A stopped run (Ctrl-C, or SIGTERM from a scheduler or `timeout`) keeps what it has trained.
    in_main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _raise_terminated) if in_main_thread else None
    try:
        return _train_into(config, out, args.quiet, dataset)
    except _Terminated:
        return _fail("terminated by SIGTERM before training began; nothing saved", status=143)
    finally:
        if in_main_thread:
            signal.signal(signal.SIGTERM, previous)


def _train_into(config: DiffusionConfig, out: Path, quiet: bool, dataset=None) -> int:
    from tqdm import tqdm

    from .checkpoint import save_checkpoint
    from .pipeline import DiffusionPipeline
    from .train import Trainer, TrainingDiverged

    trainer = Trainer(config, dataset=dataset)
    by_steps = config.steps is not None
    total = config.steps if by_steps else config.max_seconds
    unit = "it" if by_steps else "s"
    bar = tqdm(total=total, unit=unit, disable=quiet, dynamic_ncols=True, file=sys.stderr)
    shown = 0.0

    def on_step(tr: Trainer, loss: float) -> None:
        nonlocal shown
        done = tr.step_count if by_steps else min(tr.train_seconds, config.max_seconds)
        bar.update(done - shown)
        shown = done
        if tr.step_count % 25 == 0:
            bar.set_postfix(loss=f"{loss:.4f}", it_s=f"{tr.iterations_per_second:.0f}")

    try:
        trainer.train(on_step=on_step)
    except TrainingDiverged as exc:
        bar.close()
        save_checkpoint(DiffusionPipeline.from_trainer(trainer), out)
        raise TrainingDiverged(f"{exc} Last good model saved to {out}.") from None
    except (KeyboardInterrupt, _Terminated) as exc:
        # Signals arrive between Python operations, so the weights are those of a whole step
        # (the sampling model is only ever updated from weights whose loss was finite).
        name, status = ("SIGINT", 130) if isinstance(exc, KeyboardInterrupt) else ("SIGTERM", 143)
        bar.close()
        ignored = {sig: signal.signal(sig, signal.SIG_IGN) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:  # a second Ctrl-C must not cut the save short
            save_checkpoint(DiffusionPipeline.from_trainer(trainer), out)
        finally:
            for sig, handler in ignored.items():
                signal.signal(sig, handler)
        return _fail(
            f"interrupted by {name} after {trainer.step_count:,} steps; the model so far is saved to {out}", status
        )
    bar.close()
    pipeline = DiffusionPipeline.from_trainer(trainer)
    save_checkpoint(pipeline, out)
    rate = trainer.step_count / trainer.train_seconds if trainer.train_seconds > 0 else 0.0
    q = pipeline.quality()
    verdict = "meets the quality bar" if q.passes else "does not meet the quality bar"
    print(
        f"trained {trainer.step_count} steps in {trainer.train_seconds:.1f} s ({rate:.0f} it/s) on {trainer.device}; "
        f"final loss {trainer.history.loss[-1]:.4f} nats/point; {q.precision:.2%} of samples on the data, "
        f"covering {q.recall:.2%} of it, SW1 {q.sw1:.4f}: {verdict}; wrote {out}"
    )
    return 0


def _presets(args) -> int:
    """Train the catalogue's presets one after another on the CPU, each for its own seconds."""
    from .presets import CATALOGUE, PresetError, preset, preset_path, train_preset, write_measured

    names = args.only or list(CATALOGUE)
    try:
        for name in names:
            preset(name)
    except PresetError as exc:
        raise _UsageError(f"--only: {exc}") from None
    folder = _writable_folder(args.out)
    import torch

    # One thread, as the dashboard trains: a time-bounded run on a shared machine did a quarter
    # of the steps with one thread per core (the threads fought over the cores).
    torch.set_num_threads(1)
    if args.measure:
        missing = [n for n in names if not preset_path(n, folder).is_file()]
        if missing:
            raise _UsageError(f"--measure: no file for {', '.join(missing)} in {folder}; train them first")
    else:
        for name in names:
            path = train_preset(name, folder)
            if not args.quiet:
                seconds = preset(name).config.max_seconds
                print(f"{name}: {seconds:g} s of training; wrote {path} ({path.stat().st_size:,} bytes)")
    path = write_measured(names, folder)
    if not args.quiet:
        print(f"measured K and sample quality of {', '.join(names)} into {path}")
    return 0


def _load(args):
    from .checkpoint import load_checkpoint

    return load_checkpoint(args.checkpoint, device=args.device)


def _sample(args) -> int:
    import numpy as np

    check_n_points(args.n, "--n")
    check_seed(args.seed, "--seed")
    out = Path(args.out)
    if out.suffix != ".npy":
        raise ConfigError(f"--out: {out} must end in .npy")
    pipeline = _load(args)
    # in the data's own coordinates (a CSV's units), whatever scale the model trained at
    samples = pipeline.to_own(pipeline.samples(args.n, args.seed))
    out.parent.mkdir(parents=True, exist_ok=True)
    np.save(out, samples.astype(np.float32))
    print(f"wrote {samples.shape[0]} samples to {out}")
    return 0


def _evaluate(args) -> int:
    check_n_points(args.n, "--n")
    check_seed(args.seed, "--seed")
    pipeline = _load(args)
    result = pipeline.bound(args.n).to_dict()
    result.update(pipeline.quality(args.n, args.seed).to_dict())
    result["steps_trained"] = pipeline.steps_trained
    result["config"] = pipeline.config.to_dict()
    result.update(_schedule_facts(pipeline))
    print(json.dumps(result))
    return 0


def _schedule_facts(pipeline) -> dict:
    """What the bound is measured against: the data's scale, the schedule, beta_1 (K's -H_q(X_1|X_0)
    term) and the ceiling, the best K any model of this family reaches on this schedule."""
    from .ceiling import best_possible_bound

    schedule = pipeline.diffusion.schedule
    scale = pipeline.config.data_scale
    # The ceiling is computed from the roll's known curve; no other data set has one (null).
    ceiling = None
    if pipeline.config.data == "swiss_roll":
        ceiling = best_possible_bound(schedule, n=1000, data_scale=scale).bits_unit_variance
    return {
        "data": pipeline.config.data,
        "data_scale": scale.value,
        "schedule": pipeline.config.schedule.value,
        "beta_1": float(schedule.betas[1]),
        "ceiling_bits_unit_variance": ceiling,
    }


def _figure(args) -> int:
    from .figures import figure1, to_html
    from .views import figure1_view

    try:  # bad values of the flags are usage errors (status 2), checked before the model loads
        check_n_points(args.n, "--n")
        check_seed(args.seed, "--seed")
    except ConfigError as exc:
        raise _UsageError(str(exc)) from None
    out = Path(args.out)
    if out.suffix.lower() not in (".html", ".htm", ".png"):
        raise _UsageError(f"--out: {out} must end in .html or .png")
    view = figure1_view(_load(args), n=args.n, seed=args.seed)
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.suffix.lower() == ".png":
        from .export import SLIDE_SIZE, ExportError, figure1_png

        try:
            figure1_png(view, out)
        except ExportError as exc:  # e.g. OUT is a folder
            raise _UsageError(f"--out: {exc}") from None
        print(f"wrote {out} ({SLIDE_SIZE[0]}x{SLIDE_SIZE[1]})")
        return 0
    out.write_bytes(to_html(figure1(view)))
    print(f"wrote {out}")
    return 0


def _animate(args) -> int:
    """The Forward or Reverse page's animation, frame for frame, as a GIF or an MP4 for slides."""
    from . import export, views

    try:  # every bad flag is a usage error (status 2), found before the model loads
        check_n_points(args.n, "--n")
        check_seed(args.seed, "--seed")
        export.check_size(args.size, "--size")
        export.check_fps(args.fps, "--fps")
    except (ConfigError, export.ExportError) as exc:
        raise _UsageError(str(exc)) from None
    out = Path(args.out)
    if out.suffix.lower() not in export.FORMATS:
        raise _UsageError(f"--out: {out} must end in .gif or .mp4")
    if args.compare:
        return _animate_comparison(args, out)
    pipeline = _load(args)
    if args.chain == "forward":
        view = views.forward_view(pipeline.config, args.n, args.seed)
    else:
        view = views.reverse_view(pipeline, args.n, args.seed)
    out.parent.mkdir(parents=True, exist_ok=True)
    try:
        export.export_chain(view, out, size=args.size, fps=args.fps)
    except export.ExportError as exc:  # e.g. OUT is a folder
        raise _UsageError(f"--out: {exc}") from None
    print(f"wrote the {args.chain} chain, {len(view.t)} frames of {args.size}x{args.size} at {args.fps} fps, to {out}")
    return 0


def _animate_comparison(args, out: Path) -> int:
    """`animate --compare`: the models' reverse chains side by side, aligned over t/T."""
    from . import compare, export
    from .checkpoint import load_checkpoint

    paths = [args.checkpoint, *args.compare]
    if args.chain != "reverse":
        raise _UsageError("--compare plays reverse chains; leave out --chain forward")
    if len(paths) > compare.MODELS_MAX:
        raise _UsageError(f"--compare: at most {compare.MODELS_MAX} models side by side, {len(paths)} given")
    models = [load_checkpoint(p, device=args.device) for p in paths]
    frames = compare.frame_count([m.T for m in models])
    chains = [compare.compare_view(m, frames, args.n, args.seed) for m in models]
    labels = [Path(p).stem for p in paths]
    out.parent.mkdir(parents=True, exist_ok=True)
    try:
        data = export.comparison_bytes(labels, chains, [m.T for m in models], out.suffix.lower(), args.size, args.fps)
        out.write_bytes(data)
    except export.ExportError as exc:
        raise _UsageError(f"--out: {exc}") from None
    except IsADirectoryError:
        raise _UsageError(f"--out: {out} is a folder") from None
    print(
        f"wrote {len(models)} reverse chains side by side, {frames} frames of "
        f"{args.size * len(models)}x{args.size}, to {out}"
    )
    return 0


def _trajectories(args) -> int:
    """x_0..x_T of the chain the Forward or Reverse page animates for this N and seed, indexed by t."""
    import numpy as np

    try:  # bad values of the flags are usage errors (status 2), checked before the model loads
        check_n_points(args.n, "--n")
        check_seed(args.seed, "--seed")
    except ConfigError as exc:
        raise _UsageError(str(exc)) from None
    out = Path(args.out)
    if out.suffix != ".npy":
        raise _UsageError(f"--out: {out} must end in .npy")
    pipeline = _load(args)
    if args.chain == "forward":
        traj = pipeline.forward_trajectory(args.n, args.seed)[0]
    else:
        traj = pipeline.reverse_trajectory(args.n, args.seed)
    out.parent.mkdir(parents=True, exist_ok=True)
    np.save(out, traj.astype(np.float32))
    print(f"wrote the {args.chain} chain, shape {traj.shape} indexed by t, to {out}")
    return 0
