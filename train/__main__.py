"""python -m train [mnist|celeba|evaluate|report|spectrum|density|subset|ensemble] ...: how the weights are made.

    python -m train --autoencoder_type vae            # MNIST (the default subcommand), 100 epochs
    python -m train celeba --data_dir data/celeba     # the convolutional VAE on CelebA
    python -m train evaluate weights/mnist-vae        # ELBO and importance-sampled log p(x) on the test set
    python -m train report                            # docs/figures/ from the shipped weights
    python -m train spectrum                          # the beta-VAEs' and the CVAE's figures in docs/figures/
    python -m train density weights/mnist-ae          # the AE's code mixture (its export writes it too)
    python -m train subset                            # the packed MNIST subset the app's live training uses
    python -m train ensemble --betas 0,0.1,0.5,1,2,4 --seeds 5   # every beta over seeds, trained as one model

mnist's flags (the assignment's) are given with or without the word mnist; below them, every other command's.
"""
import gc

if __name__ == "__main__":
    gc.disable()  # the command's start: its imports make no garbage worth a collection (enabled again below)

import argparse
import math
import os
import re
import string
import sys
import time
from contextlib import nullcontext
from functools import partial
from pathlib import Path

import torch
import torch.distributed as dist
from safetensors.torch import save_file

from vae_models import Autoencoder, ConditionalVAE, ConvVAE, WeightsError, load_pretrained
from vae_models.code_density import fit_code_density, save_code_density
from vae_models.loading import MAX_PARAMETERS, MAX_SIZE

from . import artifacts, ensemble, spread
from .celeba import load_celeba
from .evaluate import evaluate_model, format_gaps, format_paired, format_result, gap_split
from .export import (check_weights_dir, encode_all, mnist_figures, training_facts, write_mnist_extras,
                     write_training_json)
from .loop import LoopConfig, RunError, step_name, train
from .mlp_step import subnormals_flushed
from .mnist import DataError, load_mnist, pack_subset, read_split

MAX_SEED = 2**63 - 1
MAX_MC_IMAGES = 2**17  # n_mc_samples x batch_size: the decoded images of one step (128 x 1024 = 0.4 GB of logits)
MAX_NAME = 255  # bytes in one file or folder name (Linux, macOS, Windows)
MNIST_EXP = "AE-arch=$autoencoder_type($hidden_layer_size)-lr=$lr-ep=$n_epochs"  # the assignment's folder name
MNIST_WEIGHTS = "weights/mnist-$autoencoder_type"


# Flag types: argparse prints "argument --flag: <the message>" and exits with status 2.
def whole(lo, hi=None):
    def check(text):
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if value < lo or (hi is not None and value > hi):
            raise argparse.ArgumentTypeError(f"must be at least {lo}" if hi is None else f"must be from {lo} to {hi}")
        return value
    return check


def number(lo, positive):
    def check(text):
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        if not math.isfinite(value) or value < lo or (positive and value <= lo):
            raise argparse.ArgumentTypeError("must be a positive finite number" if positive else
                                             f"must be a finite number, {lo:g} or more")
        return value
    return check


def device(text):
    try:
        kind = torch.device(text).type
    except (RuntimeError, ValueError):
        raise argparse.ArgumentTypeError(f"{text!r} is not a device; use cpu, cuda or cuda:N") from None
    if kind not in ("cpu", "cuda"):
        raise argparse.ArgumentTypeError(f"{text!r}: this trainer runs on cpu or cuda")
    if kind == "cuda" and not torch.cuda.is_available():
        raise argparse.ArgumentTypeError(f"{text}: no CUDA GPU is available here; use --device cpu")
    return text


SEED = whole(0, MAX_SEED)
SIZE = whole(1, MAX_SIZE)


def training_flags(exp_name, weights_dir):
    """The flags every training command shares (a parent parser; its defaults name the command's folders)."""
    p = argparse.ArgumentParser(add_help=False)
    p.add_argument("--n_epochs", type=whole(1), default=100, help="number of training epochs (default 100)")
    p.add_argument("--batch_size", type=whole(1), default=128, help="mini-batch size (default 128)")
    p.add_argument("--lr", type=number(0, True), default=0.001, help="Adam learning rate (default 0.001)")
    p.add_argument("--n_mc_samples", type=whole(1), default=1,
                   help="L, the Monte Carlo samples of z per image in the reconstruction term (default 1)")
    p.add_argument("--seed", type=SEED, default=8675309, help=f"random seed, 0 to {MAX_SEED} (default 8675309)")
    p.add_argument("--exp_name", default=exp_name,
                   help=f"results folder name; $name expands to a flag's value (default {exp_name!r})")
    p.add_argument("--out_dir", default="results", help="where results/<exp_name>/ is written (default results)")
    p.add_argument("--weights_dir", default=weights_dir,
                   help=f"where the final weights are exported with save_pretrained (default {weights_dir})")
    p.add_argument("--device", type=device, default="cuda" if torch.cuda.is_available() else "cpu",
                   help="cpu, cuda or cuda:N (default: cuda if available, else cpu)")
    p.add_argument("--resume", action="store_true",
                   help="continue from the last finished epoch's checkpoint; with a larger --n_epochs the same run "
                        "goes on to the new count (a default folder name's ep=N is renamed to match)")
    p.add_argument("--replace_weights", action="store_true",
                   help="allow the export to replace an earlier export in --weights_dir (without it, a run that "
                        "would replace weights is refused before training starts; a folder of other files never is "
                        "replaced)")
    p.add_argument("--quiet", action="store_true", help="no progress bar; one log line per epoch")
    p.add_argument("--eager", action="store_true",
                   help="run each step through autograd, kernel by kernel: on one GPU instead of replaying it as a "
                        "CUDA graph, on the CPU (MNIST AE, VAE) instead of its backward written out (both the "
                        "default); multi-GPU (torchrun) runs are always eager")
    return p


def build_parser():
    mnist_data = argparse.ArgumentParser(add_help=False)
    mnist_data.add_argument("--data_dir", default="data",
                            help="folder holding MNIST/raw/ in torchvision's layout; fetched there if missing "
                                 "(default data)")
    mnist = argparse.ArgumentParser(add_help=False, parents=[mnist_data, training_flags(MNIST_EXP, MNIST_WEIGHTS)])
    mnist.add_argument("--autoencoder_type", choices=["ae", "vae", "cvae"], default="ae",
                       help="ae, vae, or cvae (the conditional VAE: the digit's label given to encoder and decoder) "
                            "(default ae)")
    mnist.add_argument("--beta", type=number(0, False), default=1.0,
                       help="the weight of the KL term, loss = BCE + beta * KL (default 1: the ELBO); for the VAE and "
                            "CVAE. A beta other than 1 is added to the folder names (weights/mnist-vae-beta4)")
    mnist.add_argument("--hidden_layer_size", type=SIZE, default=512,
                       help=f"hidden layer width, up to {MAX_SIZE} (default 512)")
    mnist.add_argument("--latent_size", type=SIZE, default=2,
                       help="latent dimension (default 2; the latent maps and grids need 2)")

    # `python -m train --autoencoder_type vae` is the mnist command: the top parser takes mnist's flags itself
    parser = argparse.ArgumentParser(prog="python -m train", description=__doc__, parents=[mnist],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", metavar="command")
    parser.set_defaults(func=run_mnist, command="mnist")  # after add_subparsers, whose own default is None
    m = sub.add_parser("mnist", parents=[mnist], help="train the MNIST AE or VAE (the default: the word may be left out)")
    m.set_defaults(func=run_mnist)

    c = sub.add_parser("celeba", help="train the convolutional VAE on 64x64 CelebA faces (torchrun for many GPUs)",
                       parents=[training_flags("CelebA-VAE(latent=$latent_size)-lr=$lr-ep=$n_epochs",
                                               "weights/celeba-vae")])
    c.add_argument("--data_dir", default="data/celeba",
                   help="CelebA as torchvision lays it out (img_align_celeba/ + list_eval_partition.txt, here or "
                        "in a celeba/ subfolder), or a plain folder of face images (default data/celeba)")
    c.add_argument("--subset", type=whole(0), default=50_000,
                   help="train on a seeded random subset of this many training images; 0 for all (default 50000)")
    c.add_argument("--latent_size", type=SIZE, default=128, help="latent dimension (default 128)")
    c.add_argument("--num_workers", type=whole(0), default=min(8, os.cpu_count() or 1),
                   help="processes decoding JPEGs while the cache is built, once (default: up to 8)")
    c.set_defaults(func=run_celeba)

    e = sub.add_parser("evaluate", parents=[mnist_data],
                       help="test-set negative ELBO and importance-sampled log p(x) of MNIST weights")
    e.add_argument("weights", nargs="+", help="folders (or Hub repo ids) written by save_pretrained")
    e.add_argument("--n_samples", type=whole(1, 1_000_000), default=1000,
                   help="K, importance samples per image (default 1000)")
    e.add_argument("--seed", type=SEED, default=0, help="seed of the samples (default 0)")
    e.add_argument("--grid", type=whole(0, 4000), default=240,
                   help="points a side of the quadrature grid for 2-D latents; 0 skips it (default 240)")
    e.add_argument("--device", type=device, default="cpu",
                   help="cpu or cuda (default cpu; the published numbers were computed there: another device draws "
                        "other samples)")
    e.add_argument("--gaps", type=whole(0, 10_000), default=0, metavar="N",
                   help="instead of the numbers above, split each 2-D VAE's gap log p(x) - ELBO into Cremer et al.'s "
                        "approximation and amortisation gaps on N test images drawn with --seed (10000: all); log p(x) "
                        "on a grid twice as fine as --grid's")
    e.set_defaults(func=run_evaluate)

    r = sub.add_parser("report", parents=[mnist_data],
                       help="the figures and numbers of docs/REPORT.md, from the shipped weights")
    r.add_argument("--weights", default="weights", help="folder with mnist-ae/ and mnist-vae/ (default weights)")
    r.add_argument("--out", default="docs/figures", help="where the figures go (default docs/figures)")
    r.add_argument("--n_samples", type=whole(1, 1_000_000), default=1000, help="K for the log-likelihood (default 1000)")
    r.add_argument("--seed", type=SEED, default=0, help="seed of the evaluation's samples (default 0)")
    r.add_argument("--grid", type=whole(1, 4000), default=240, help="points a side of the quadrature grid (default 240)")
    r.set_defaults(func=run_report)

    sp = sub.add_parser("spectrum", parents=[mnist_data],
                        help="the beta-VAEs' and the conditional VAE's figures and table, from the shipped weights "
                             "(no evaluation: fast; every figure is deterministic)")
    sp.add_argument("--weights", default="weights", help="folder with the mnist-* weights (default weights)")
    sp.add_argument("--out", default="docs/figures", help="where the figures go (default docs/figures)")
    sp.set_defaults(func=run_spectrum)

    d = sub.add_parser("density", parents=[mnist_data],
                       help="fit the mixture density of an AE's training codes (as the AE's export does)")
    d.add_argument("weights", help="an AE's weights folder; code_density.safetensors is written there")
    d.add_argument("--seed", type=SEED, default=8675309, help="the fit's seed (default 8675309, the training seed)")
    d.set_defaults(func=run_density)

    su = sub.add_parser("subset", parents=[mnist_data],
                        help="write the packed, binarised MNIST subset the app's Train tab learns from")
    su.add_argument("--out", default="weights/mnist-subset.safetensors", help="(default %(default)s)")
    su.add_argument("--replace", action="store_true", help="allow replacing a file already at --out")
    su.add_argument("--n_train", type=whole(1), default=10_000, help="training digits (default 10000)")
    su.add_argument("--n_test", type=whole(1), default=1_000, help="test digits (default 1000)")
    su.add_argument("--seed", type=SEED, default=8675309, help="the choice's seed (default 8675309)")
    su.set_defaults(func=run_subset)

    en = sub.add_parser("ensemble", parents=[mnist_data],
                        help="train every (model, beta, seed) at once as one batched model, each member exactly its "
                             "own single run, for the spread of every number over seeds")
    en.add_argument("--betas", type=betas_arg, default=[0, 0.1, 0.5, 1, 2, 4],
                    help="comma-separated betas; 0 stands for the AE (default 0,0.1,0.5,1,2,4)")
    en.add_argument("--seeds", type=whole(1, 1000), default=5,
                    help="how many seeds: --seed, --seed + 1, ... (default 5; --seed's member is the single run "
                         "of the same flags)")
    en.add_argument("--seed", type=SEED, default=8675309, help="the first seed (default 8675309)")
    en.add_argument("--n_epochs", type=whole(1), default=100, help="epochs, each member (default 100)")
    en.add_argument("--batch_size", type=whole(1), default=128, help="mini-batch size (default 128)")
    en.add_argument("--lr", type=number(0, True), default=0.001, help="Adam learning rate (default 0.001)")
    en.add_argument("--n_mc_samples", type=whole(1, 1024), default=1, help="L, samples of z per image (default 1)")
    en.add_argument("--hidden_layer_size", type=SIZE, default=512, help="hidden layer width (default 512)")
    en.add_argument("--latent_size", type=SIZE, default=2, help="latent dimension (default 2)")
    en.add_argument("--exp_name", default="ensemble", help="results folder name (default ensemble)")
    en.add_argument("--out_dir", default="results", help="where results/<exp_name>/ is written (default results)")
    en.add_argument("--device", type=device, default="cpu",
                    help="cpu or cuda (default cpu; the batched step has not yet been run on a GPU)")
    en.add_argument("--resume", action="store_true", help="continue from the last finished epoch's checkpoint; on a "
                    "finished run, only write the --spread_dir files")
    en.add_argument("--spread_dir", default=None,
                    help="at the end, evaluate every member and write members.csv, summary.csv and loss_band.png "
                         "here (the report's: docs/figures/spread)")
    en.set_defaults(func=run_ensemble)

    # --help tells the whole story: the commands, mnist's flags, then every other command's flags
    parser.epilog = "\n".join(f"\n{'=' * 20} python -m train {name} {'=' * 20}\n{p.format_help()}"
                               for name, p in sub.choices.items() if name != "mnist")
    return parser


def parse_args(argv=None):
    """The command line -> its namespace (args.func runs it); a bad flag exits with argparse's one line."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command in ("mnist", "celeba"):
        name_folders(parser, args)
    return args


def betas_arg(text):
    try:
        return ensemble.betas_list(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def name_folders(parser, args):
    """The run's folder names from their templates ($flag -> its value), with a beta or latent size other than the
    default added to the default names, so that two such runs never share a folder; then the checks of the names."""
    if args.command == "mnist":
        if args.beta != 1 and args.autoencoder_type == "ae":
            parser.error("--beta weighs the KL term, which the AE does not have; use it with --autoencoder_type vae "
                         "or cvae")
        for name, default in (("exp_name", MNIST_EXP), ("weights_dir", MNIST_WEIGHTS)):
            if args.beta != 1 and getattr(args, name) == default:
                setattr(args, name, default + (f"-beta={args.beta:g}" if name == "exp_name" else f"-beta{args.beta:g}"))
            if args.latent_size != 2 and getattr(args, name).startswith(default):
                setattr(args, name, getattr(args, name) + "-latent=$latent_size")
    args.exp_template = args.exp_name  # with $n_epochs in it, --resume with more epochs finds the shorter run
    for name in ("exp_name", "weights_dir"):
        setattr(args, name, string.Template(getattr(args, name)).safe_substitute(vars(args)))
    exp = Path(args.exp_name)
    if not exp.parts or exp.is_absolute() or ".." in exp.parts:
        parser.error(f"--exp_name {args.exp_name!r} must be a folder name inside --out_dir (no absolute path, "
                     "no '.' or '..')")
    for flag, path in (("--exp_name", args.exp_name), ("--out_dir", args.out_dir), ("--weights_dir", args.weights_dir)):
        long = [part for part in Path(path).parts if len(part.encode()) > MAX_NAME]
        if long:
            parser.error(f"{flag}: a folder name of {len(long[0].encode())} bytes is longer than the {MAX_NAME} a "
                         "file system allows")
    if args.n_mc_samples * args.batch_size > MAX_MC_IMAGES:
        parser.error(f"--n_mc_samples {args.n_mc_samples} x --batch_size {args.batch_size} decodes more than "
                     f"{MAX_MC_IMAGES:,} images a step; lower one of them")


def check_writable(path):
    """Refuse (RunError) a path that could not be created: its nearest existing ancestor must be a writable folder.
    Nothing is made here: folders are made only once every check has passed."""
    found = Path(path).absolute()
    while not found.exists():
        found = found.parent
    if not found.is_dir() or not os.access(found, os.W_OK | os.X_OK):
        raise RunError(f"cannot write to {path} ({found} is "
                       f"{'not a folder' if not found.is_dir() else 'not writable'}).")


def shorter_run(args, settings):
    """With --resume and a folder name that holds the epoch count (the default, ...-ep=$n_epochs): the folder of the
    same run (its checkpoint made with these run settings) started with fewer epochs (...-ep=2 when resuming with
    --n_epochs 3), or None. Raises RunError when several could be meant."""
    template = getattr(args, "exp_template", "")
    if not args.resume or "$n_epochs" not in template or not Path(args.out_dir).is_dir():
        return None
    values = {k: v for k, v in vars(args).items() if k != "n_epochs"}
    parts = [re.escape(string.Template(part).safe_substitute(values)) for part in template.split("$n_epochs")]
    pattern = re.compile(r"(\d+)".join(parts))
    found = []
    for folder in Path(args.out_dir).iterdir():
        match = pattern.fullmatch(folder.name)
        if (match and len({*match.groups()}) == 1 and int(match[1]) < args.n_epochs
                and artifacts.checkpoint_settings(folder / "checkpoint.safetensors") == settings):
            found.append(folder)
    if len(found) > 1:
        raise RunError(f"--resume --n_epochs {args.n_epochs} could continue any of {', '.join(sorted(map(str, found)))}"
                       "; pass the --exp_name of the one to continue.")
    return found[0] if found else None


def check_outputs(args, settings=None):
    """Before any data is loaded, any epoch trained or any folder made: refuse what would replace or lose the user's
    files, and what could not be written; then say where the run will write. Raises RunError.

    --resume with more epochs than a run was started with continues it (a run whose checkpoint has these run
    settings, LoopConfig.run_settings): once every check has passed, its folder is renamed to the new epoch count,
    ...-ep=2 becoming ...-ep=3."""
    run_dir = Path(args.out_dir) / args.exp_name
    earlier = None
    if not ((run_dir / "checkpoint.safetensors").exists() or (run_dir / "perf_metrics.csv").exists()):
        earlier = shorter_run(args, settings)
    if earlier is not None and run_dir.exists() and not (run_dir.is_dir() and not any(run_dir.iterdir())):
        raise RunError(f"{run_dir} is in the way of continuing {earlier} to {args.n_epochs} epochs; move it, or pass "
                       f"--exp_name {earlier.name} to continue the run in its own folder.")
    has_run = (run_dir / "checkpoint.safetensors").exists() or (run_dir / "perf_metrics.csv").exists()
    if has_run and not args.resume:
        raise RunError(f"{run_dir} already holds a run; pass --resume to continue it, or choose another --exp_name "
                       "or --out_dir for a new one.")
    if run_dir.exists() and not run_dir.is_dir():
        raise RunError(f"{run_dir} is a file; choose another --exp_name or --out_dir.")
    if not has_run and run_dir.is_dir() and any(run_dir.iterdir()):
        raise RunError(f"{run_dir} holds other files, which a run would mix with its own or replace; choose a new or "
                       "empty folder (another --exp_name or --out_dir).")
    check_weights_dir(args.weights_dir, args.replace_weights)
    for folder in (run_dir, args.weights_dir):
        check_writable(folder)
    if earlier is not None:
        if run_dir.is_dir():
            run_dir.rmdir()  # empty: checked above
        earlier.rename(run_dir)
        print(f"Continuing the run of {earlier} to {args.n_epochs} epochs; its folder is now {run_dir}.")
    what = "replacing the earlier export there" if (Path(args.weights_dir) / "model.safetensors").exists() else \
        "new weights"
    print(f"Results in {run_dir}; weights to {args.weights_dir} ({what}).")


def loop_config(args):
    return LoopConfig(out_dir=Path(args.out_dir) / args.exp_name, n_epochs=args.n_epochs, batch_size=args.batch_size,
                      lr=args.lr, n_mc_samples=args.n_mc_samples, seed=args.seed, device=args.device,
                      resume=args.resume, quiet=args.quiet, fused_step=not args.eager, beta=getattr(args, "beta", 1.0),
                      # on a GPU the test pass is a few large batches
                      eval_batch_size=10_000 if args.device.startswith("cuda") else 1000)


def mnist_model(args):
    if args.autoencoder_type == "cvae":
        return ConditionalVAE(hidden_size=args.hidden_layer_size, latent_size=args.latent_size)
    return Autoencoder(args.autoencoder_type, hidden_size=args.hidden_layer_size, latent_size=args.latent_size)


def check_model_size(build, flags):
    """Refuse (RunError) a model larger than MAX_PARAMETERS, sized on the meta device: nothing allocated or written."""
    with torch.device("meta"):
        n_parameters = sum(p.numel() for p in build().parameters())
    if n_parameters > MAX_PARAMETERS:
        raise RunError(f"{flags} make a model of {n_parameters:,} parameters; this trainer takes up to "
                       f"{MAX_PARAMETERS:,}.")


def run_mnist(args):
    check_model_size(partial(mnist_model, args), f"--hidden_layer_size {args.hidden_layer_size} and --latent_size "
                                                 f"{args.latent_size}")
    cfg = loop_config(args)
    cfg.model_settings = {"autoencoder_type": args.autoencoder_type, "hidden_layer_size": args.hidden_layer_size,
                          "latent_size": args.latent_size, "beta": args.beta}
    check_outputs(args, cfg.run_settings())
    # the written-out step's models on the CPU: from before the first parallel operation (the data's loading)
    with subnormals_flushed() if args.device == "cpu" and args.autoencoder_type in ("ae", "vae") else nullcontext():
        train_mnist(args, cfg)


def train_mnist(args, cfg):
    data = load_mnist(args.data_dir)
    (train_x, train_y), (test_x, test_y) = data["train"], data["test"]
    conditional = args.autoencoder_type == "cvae"
    print(f"MNIST: {len(train_x)} training and {len(test_x)} test images, binarised; results in {cfg.out_dir}")
    started = time.perf_counter()
    torch.manual_seed(args.seed)
    model = mnist_model(args)
    name = f"{args.autoencoder_type.upper()} ({args.hidden_layer_size})" + (f", beta {args.beta:g}"
                                                                            if args.beta != 1 else "")
    given_y = (train_y, test_y) if conditional else (None, None)  # labels go in only for the conditional model
    rows = train(model, train_x, test_x, cfg, f"MNIST {name}", *given_y)

    # The codes of the test set and the decoded latent grid, then the weights the app loads.
    model = model.cpu().eval()
    mu, logvar = encode_all(model, test_x, given_y[1])
    out, last = cfg.out_dir, rows[-1]["epoch"]
    files = [out / f for f in ("perf_metrics.csv", "loss_curve.png", f"reconstruction_{last}.png",
                               f"sample_{last}.png")]
    files += mnist_figures(model, mu, test_y, out, name)
    facts = training_facts(args, cfg, autoencoder_type=args.autoencoder_type, beta=args.beta)
    examples = read_split(args.data_dir, "test")
    artifacts.export_weights(model, args.weights_dir, files, partial(
        write_mnist_extras, model=model, codes=(mu, logvar, test_y), train_x=train_x, examples=examples, facts=facts,
        seed=args.seed, weights_dir=args.weights_dir))
    print(f"Final epoch {last}: train {rows[-1]['train_loss']:.2f}, test {rows[-1]['test_loss']:.2f}. "
          f"Weights exported to {args.weights_dir}")
    print(wall_time(started, cfg, model))


def wall_time(started, cfg, model):
    return (f"Wall time from the data in memory to the exported weights: {time.perf_counter() - started:.1f} s "
            f"({step_name(model, cfg)} steps on {torch.cuda.get_device_name(cfg.device) if cfg.device.startswith('cuda') else 'the CPU'})")


def setup_distributed(device):
    """Under torchrun (WORLD_SIZE > 1): join the process group (NCCL on GPUs, gloo on CPUs) and pick this
    process's device. -> (rank, device)."""
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return 0, device
    local_rank = int(os.environ["LOCAL_RANK"])
    if device.startswith("cuda"):
        torch.cuda.set_device(local_rank)
        dist.init_process_group("nccl")
        return dist.get_rank(), f"cuda:{local_rank}"
    dist.init_process_group("gloo")
    torch.set_num_threads(max(1, (os.cpu_count() or 1) // dist.get_world_size()))
    return dist.get_rank(), device


def run_celeba(args):
    check_model_size(partial(ConvVAE, latent_size=args.latent_size), f"--latent_size {args.latent_size}")
    rank, device = setup_distributed(args.device)
    cfg = loop_config(args)
    cfg.device = device
    cfg.model_settings = {"latent_size": args.latent_size, "subset": args.subset}
    if rank == 0:
        check_outputs(args, cfg.run_settings())
    if rank == 0:  # builds the uint8 cache the first time; the other processes then map the same files
        train_x, test_x = load_celeba(args.data_dir, args.subset, args.seed, args.num_workers, args.quiet)
        print(f"CelebA: {len(train_x)} training and {len(test_x)} test faces, 64x64; results in {cfg.out_dir}")
    if dist.is_initialized():
        dist.barrier()
    if rank != 0:
        train_x, test_x = load_celeba(args.data_dir, args.subset, args.seed, 0, True)
    started = time.perf_counter()
    torch.manual_seed(args.seed)
    model = ConvVAE(latent_size=args.latent_size)
    if device.startswith("cuda"):
        model = model.to(memory_format=torch.channels_last)
    rows = train(model, train_x, test_x, cfg, title=f"CelebA ConvVAE (latent {args.latent_size})")
    if rank == 0:
        last, out = rows[-1]["epoch"], cfg.out_dir
        files = [out / f for f in ("perf_metrics.csv", "loss_curve.png", f"reconstruction_{last}.png",
                                   f"sample_{last}.png")]
        facts = training_facts(args, cfg, latent_size=args.latent_size, subset=args.subset)
        artifacts.export_weights(model.cpu().eval(), args.weights_dir, files, partial(write_training_json, facts=facts))
        print(f"Final epoch {last}: train {rows[-1]['train_loss']:.2f}, test {rows[-1]['test_loss']:.2f}. "
              f"Weights exported to {args.weights_dir}")
        print(wall_time(started, cfg, model))
    if dist.is_initialized():
        dist.destroy_process_group()


def load_weights(source):
    return load_pretrained([Autoencoder, ConditionalVAE], source)


def run_evaluate(args):
    test_x, test_y = (t.to(args.device) for t in load_mnist(args.data_dir)["test"])
    results = {}
    for source in args.weights:
        if getattr(args, "gaps", 0):
            model = load_weights(source).to(args.device)
            if args.gaps < 0 or not model.is_vae or model.latent_size != 2 or getattr(model, "n_classes", 0):
                raise RunError(f"--gaps {args.gaps}: the split needs a number of images and a VAE with a 2-D latent "
                               f"(its log p(x) by quadrature); {source} is a {model.latent_size}-D "
                               f"{type(model).__name__}.")
            results[source], what, seconds = gap_split(model, test_x, args.gaps, args.seed, 2 * args.grid or 480)
            print(format_gaps(source, results[source], what, seconds), flush=True)
            continue
        results[source] = evaluate_model(load_weights(source).to(args.device), test_x, args.n_samples, args.seed,
                                         grid=getattr(args, "grid", 240), y=test_y, per_image=True)
        print(format_result(source, results[source]), flush=True)
    if not getattr(args, "gaps", 0) and format_paired(results):
        print(format_paired(results))
    return results


def run_report(args):
    from .report import measure_claims, posterior_analysis, write_report_figures  # matplotlib: only here

    folders = {name: Path(args.weights) / f"mnist-{name.lower()}" for name in ("AE", "VAE")}
    data = load_mnist(args.data_dir)
    lines, results = [], {}
    for name, folder in folders.items():
        results[name] = evaluate_model(load_weights(folder), data["test"][0], args.n_samples, args.seed,
                                       grid=args.grid, per_image=True)
        lines.append(format_result(str(folder), results[name]))
        print(lines[-1], flush=True)
    Path(args.out).mkdir(parents=True, exist_ok=True)
    measurements = measure_claims(folders, data)
    measurements += posterior_analysis(folders["VAE"], data, results["VAE"]["images"], args.out)
    print("\n".join(measurements))
    write_report_figures(folders, args.out, lines, measurements)
    print(f"Figures, evaluation.txt and measurements.txt written to {args.out}")


def run_spectrum(args):
    from .report import spectrum_figures  # matplotlib: only here

    Path(args.out).mkdir(parents=True, exist_ok=True)
    lines = spectrum_figures(args.weights, load_mnist(args.data_dir), args.out, load_weights)
    print("\n".join(lines))
    print(f"Figures and spectrum.txt written to {args.out}")


def run_subset(args):
    out = Path(args.out)
    if out.is_dir():
        raise RunError(f"--out {out} is a folder; give a file name, such as {out / 'mnist-subset.safetensors'}.")
    if out.exists() and not args.replace:
        raise RunError(f"{out} already exists; pass --replace to replace it, or --out to write elsewhere.")
    check_writable(out.parent)
    data = load_mnist(args.data_dir)
    for split, n in (("train", args.n_train), ("test", args.n_test)):
        if n > len(data[split][0]):
            raise RunError(f"--n_{split} {n}: MNIST has {len(data[split][0]):,} {split} digits.")
    out.parent.mkdir(parents=True, exist_ok=True)
    tensors = pack_subset(data, args.n_train, args.n_test, args.seed)
    with artifacts.atomic_path(args.out) as tmp:
        save_file(tensors, tmp, metadata={"what": "binarised MNIST (round(pixel / 255)), 8 pixels a byte",
                                          "seed": str(args.seed)})
    print(f"Wrote {args.out}: {args.n_train} training and {args.n_test} test digits, "
          f"{Path(args.out).stat().st_size / 1e6:.2f} MB")


def run_ensemble(args):
    exp = Path(args.exp_name)
    if not exp.parts or exp.is_absolute() or ".." in exp.parts or len(args.exp_name.encode()) > MAX_NAME:
        raise RunError(f"--exp_name {args.exp_name[:40]!r} must be a folder name inside --out_dir (no absolute path, "
                       "no '.' or '..', at most 255 bytes)")
    data = load_mnist(args.data_dir)
    try:
        rows = ensemble.run(args, data["train"][0], data["test"][0])
    except (FileExistsError, ensemble.ResumeError) as e:
        raise RunError(str(e)) from None
    if args.spread_dir:
        spread.write_spread(Path(args.out_dir) / args.exp_name, rows, data, args.spread_dir)
    return rows


def run_density(args):
    model = load_weights(args.weights)
    if model.is_vae or model.latent_size != 2:
        raise RunError(f"{args.weights} is not a 2-D autoencoder; the mixture is for sampling a plain AE.")
    train_x = load_mnist(args.data_dir)["train"][0]
    save_code_density(fit_code_density(encode_all(model, train_x)[0], seed=args.seed), args.weights)
    print(f"Wrote {Path(args.weights) / 'code_density.safetensors'}")


def main(argv=None):
    args = parse_args(argv)
    try:
        return args.func(args)
    except (DataError, RunError, WeightsError) as e:
        sys.exit(f"error: {e}")


if __name__ == "__main__":
    # The imports leave about 180,000 objects that live as long as the command; frozen, the collector's full passes
    # skip them (three during the imports, two in the figures at the end of a run, one at the interpreter's exit:
    # 0.3 s of a 7 s MNIST run, then 0.04 s).
    gc.freeze()
    gc.enable()
    main()
