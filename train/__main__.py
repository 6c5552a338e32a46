"""python -m train [mnist|celeba|evaluate|report] ...: how the weights are made.

    python -m train --autoencoder_type vae            # MNIST (the default subcommand), 100 epochs
    python -m train celeba --data_dir data/celeba     # the convolutional VAE on CelebA
    python -m train evaluate weights/mnist-vae        # ELBO and importance-sampled log p(x) on the test set
    python -m train report                            # docs/figures/ from the shipped weights
    python -m train spectrum                          # the beta-VAEs' and the CVAE's figures in docs/figures/
    python -m train density weights/mnist-ae          # the AE's code mixture (its export writes it too)
    python -m train subset                            # the packed MNIST subset the app's live training uses
    python -m train ensemble --betas 0,0.1,0.5,1,2,4 --seeds 5   # every beta over seeds, trained as one model

Each command's flags: python -m train <command> --help (mnist's flags are the assignment's).
"""
import argparse
import math
import os
import string
import sys
import tempfile
import time
from pathlib import Path

import torch
from safetensors.torch import save_file
from torchvision.utils import save_image

import torch.distributed as dist

from vae_models import Autoencoder, ConditionalVAE, ConvVAE, WeightsError, decode_grid, load_pretrained
from vae_models.code_density import fit_code_density, save_code_density

from . import artifacts, ensemble
from .celeba import load_celeba
from .evaluate import evaluate_model, format_result
from .loop import LoopConfig, RunError, train
from .report import measure_claims, posterior_analysis, spectrum_figures, write_report_figures
from .mnist import DataError, load_mnist, pack_subset, read_split

COMMANDS = ("mnist", "celeba", "evaluate", "report", "spectrum", "density", "subset", "ensemble")
MAX_SEED = 2**63 - 1
MNIST_EXP = "AE-arch=$autoencoder_type($hidden_layer_size)-lr=$lr-ep=$n_epochs"  # the assignment's folder name


def common_flags(p, exp_name, weights_dir):
    p.add_argument("--n_epochs", type=int, default=100, help="number of training epochs (default 100)")
    p.add_argument("--batch_size", type=int, default=128, help="mini-batch size (default 128)")
    p.add_argument("--lr", type=float, default=0.001, help="Adam learning rate (default 0.001)")
    p.add_argument("--n_mc_samples", type=int, default=1,
                   help="L, the Monte Carlo samples of z per image in the reconstruction term (default 1)")
    p.add_argument("--seed", type=int, default=8675309, help="random seed (default 8675309)")
    p.add_argument("--exp_name", default=exp_name,
                   help=f"results folder name; $name expands to a flag's value (default {exp_name!r})")
    p.add_argument("--out_dir", default="results", help="where results/<exp_name>/ is written (default results)")
    p.add_argument("--weights_dir", default=weights_dir,
                   help=f"where the final weights are exported with save_pretrained (default {weights_dir})")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu",
                   help="cpu, cuda or cuda:N (default: cuda if available, else cpu)")
    p.add_argument("--resume", action="store_true", help="continue from the last finished epoch's checkpoint")
    p.add_argument("--replace_weights", action="store_true",
                   help="allow the export to replace weights already in --weights_dir (without it, a run that would "
                        "replace them is refused before training starts)")
    p.add_argument("--quiet", action="store_true", help="no progress bar; one log line per epoch")
    p.add_argument("--eager", action="store_true",
                   help="on one GPU, run each step kernel by kernel instead of replaying it as a CUDA graph (the "
                        "default there); the CPU and multi-GPU (torchrun) runs are always eager")


def build_parser():
    parser = argparse.ArgumentParser(prog="python -m train", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command")

    m = sub.add_parser("mnist", help="train the MNIST AE or VAE (default)")
    m.add_argument("--autoencoder_type", choices=["ae", "vae", "cvae"], default="ae",
                   help="ae, vae, or cvae (the conditional VAE: the digit's label given to encoder and decoder) "
                        "(default ae)")
    m.add_argument("--beta", type=float, default=1.0,
                   help="the weight of the KL term, loss = BCE + beta * KL (default 1: the ELBO); for the VAE and "
                        "CVAE. A beta other than 1 is added to the folder names (weights/mnist-vae-beta4)")
    m.add_argument("--hidden_layer_size", type=int, default=512, help="hidden layer width (default 512)")
    m.add_argument("--latent_size", type=int, default=2,
                   help="latent dimension (default 2; the latent maps and grids need 2)")
    m.add_argument("--data_dir", default="data",
                   help="folder holding MNIST/raw/ in torchvision's layout; fetched there if missing (default data)")
    common_flags(m, MNIST_EXP, "weights/mnist-$autoencoder_type")

    c = sub.add_parser("celeba", help="train the convolutional VAE on 64x64 CelebA faces (torchrun for many GPUs)")
    c.add_argument("--data_dir", default="data/celeba",
                   help="CelebA as torchvision lays it out (img_align_celeba/ + list_eval_partition.txt, here or "
                        "in a celeba/ subfolder), or a plain folder of face images (default data/celeba)")
    c.add_argument("--subset", type=int, default=50_000,
                   help="train on a seeded random subset of this many training images; 0 for all (default 50000)")
    c.add_argument("--latent_size", type=int, default=128, help="latent dimension (default 128)")
    c.add_argument("--num_workers", type=int, default=min(8, os.cpu_count() or 1),
                   help="processes decoding JPEGs while the cache is built, once (default: up to 8)")
    common_flags(c, "CelebA-VAE(latent=$latent_size)-lr=$lr-ep=$n_epochs", "weights/celeba-vae")

    e = sub.add_parser("evaluate", help="test-set negative ELBO and importance-sampled log p(x) of MNIST weights")
    e.add_argument("weights", nargs="+", help="folders (or Hub repo ids) written by save_pretrained")
    e.add_argument("--n_samples", type=int, default=1000, help="K, importance samples per image (default 1000)")
    e.add_argument("--seed", type=int, default=0, help="seed of the samples (default 0)")
    e.add_argument("--grid", type=int, default=240,
                   help="points a side of the quadrature grid for 2-D latents; 0 skips it (default 240)")
    e.add_argument("--data_dir", default="data", help="MNIST folder, as for training (default data)")
    e.add_argument("--device", default="cpu",
                   help="cpu or cuda (default cpu; the published numbers were computed there: another device draws "
                        "other samples)")

    r = sub.add_parser("report", help="the figures and numbers of docs/REPORT.md, from the shipped weights")
    r.add_argument("--weights", default="weights", help="folder with mnist-ae/ and mnist-vae/ (default weights)")
    r.add_argument("--out", default="docs/figures", help="where the figures go (default docs/figures)")
    r.add_argument("--n_samples", type=int, default=1000, help="K for the log-likelihood (default 1000)")
    r.add_argument("--seed", type=int, default=0, help="seed of the evaluation's samples (default 0)")
    r.add_argument("--grid", type=int, default=240, help="points a side of the quadrature grid (default 240)")
    r.add_argument("--data_dir", default="data", help="MNIST folder, as for training (default data)")
    sp = sub.add_parser("spectrum", help="the beta-VAEs' and the conditional VAE's figures and table, from the "
                                         "shipped weights (no evaluation: fast)")
    sp.add_argument("--weights", default="weights", help="folder with the mnist-* weights (default weights)")
    sp.add_argument("--out", default="docs/figures", help="where the figures go (default docs/figures)")
    sp.add_argument("--data_dir", default="data", help="MNIST folder, as for training (default data)")
    sp.add_argument("--seed", type=int, default=0, help="unused; every figure is deterministic")
    d = sub.add_parser("density", help="fit the mixture density of an AE's training codes (as the AE's export does)")
    d.add_argument("weights", help="an AE's weights folder; code_density.safetensors is written there")
    d.add_argument("--seed", type=int, default=8675309, help="the fit's seed (default 8675309, the training seed)")
    d.add_argument("--data_dir", default="data", help="MNIST folder, as for training (default data)")
    su = sub.add_parser("subset", help="write the packed, binarised MNIST subset the app's Train tab learns from")
    su.add_argument("--out", default="weights/mnist-subset.safetensors", help="(default %(default)s)")
    su.add_argument("--n_train", type=int, default=10_000, help="training digits (default 10000)")
    su.add_argument("--n_test", type=int, default=1_000, help="test digits (default 1000)")
    su.add_argument("--seed", type=int, default=8675309, help="the choice's seed (default 8675309)")
    su.add_argument("--data_dir", default="data", help="MNIST folder, as for training (default data)")
    en = sub.add_parser("ensemble", help="train every (model, beta, seed) at once, each member exactly its own "
                                         "single run, for the spread of every number over seeds")
    en.add_argument("--betas", type=betas_arg, default=[0, 0.1, 0.5, 1, 2, 4],
                    help="comma-separated betas; 0 stands for the AE (default 0,0.1,0.5,1,2,4)")
    en.add_argument("--seeds", type=int, default=5,
                    help="how many seeds: --seed, --seed + 1, ... (default 5; --seed's member is the single run "
                         "of the same flags)")
    en.add_argument("--hidden_layer_size", type=int, default=512, help="hidden layer width (default 512)")
    en.add_argument("--latent_size", type=int, default=2, help="latent dimension (default 2)")
    en.add_argument("--data_dir", default="data", help="MNIST folder, as for training (default data)")
    for flag, kind, default, text in (("--n_epochs", int, 100, "epochs, each member (default 100)"),
                                      ("--batch_size", int, 128, "mini-batch size (default 128)"),
                                      ("--lr", float, 0.001, "Adam learning rate (default 0.001)"),
                                      ("--n_mc_samples", int, 1, "L, samples of z per image (default 1)"),
                                      ("--seed", int, 8675309, "the first seed (default 8675309)")):
        en.add_argument(flag, type=kind, default=default, help=text)
    en.add_argument("--exp_name", default="ensemble", help="results folder name (default ensemble)")
    en.add_argument("--out_dir", default="results", help="where results/<exp_name>/ is written (default results)")
    en.add_argument("--device", default="cpu", help="cpu or cuda (default cpu; never run on a GPU yet)")
    en.add_argument("--resume", action="store_true", help="continue from the last finished epoch's checkpoint")
    parser.commands = {"ensemble": en, "mnist": m, "celeba": c, "evaluate": e, "report": r, "spectrum": sp, "density": d,
                       "subset": su}
    return parser


def parse_args(argv):
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    if argv in (["-h"], ["--help"]):  # the whole story: the commands, then every command's flags
        print(parser.format_help())
        for name, sub in parser.commands.items():
            print(f"\n{'=' * 20} python -m train {name} {'=' * 20}\n{sub.format_help()}")
        sys.exit(0)
    if not argv or argv[0] not in COMMANDS:
        argv.insert(0, "mnist")
    args = parser.parse_args(argv)
    for flag in ("n_epochs", "batch_size", "n_mc_samples", "latent_size", "hidden_layer_size", "n_samples", "n_train",
                 "n_test"):
        if getattr(args, flag, 1) < 1:
            parser.error(f"--{flag} must be at least 1")
    if getattr(args, "subset", 0) < 0:
        parser.error("--subset must be 0 (all) or more")
    if not math.isfinite(getattr(args, "lr", 1)) or getattr(args, "lr", 1) <= 0:
        parser.error("--lr must be a positive finite number")
    if not 0 <= args.seed <= MAX_SEED:
        parser.error(f"--seed must be from 0 to {MAX_SEED}")
    if hasattr(args, "device"):
        check_device(parser, args.device)
    if args.command == "mnist" and args.beta != 1:
        if not math.isfinite(args.beta) or args.beta < 0:
            parser.error("--beta must be a finite number, 0 or more")
        if args.autoencoder_type == "ae":
            parser.error("--beta weighs the KL term, which the AE does not have; use it with --autoencoder_type vae "
                         "or cvae")
        for name, default in (("exp_name", MNIST_EXP), ("weights_dir", "weights/mnist-$autoencoder_type")):
            if getattr(args, name) == default:
                setattr(args, name, default + (f"-beta={args.beta:g}" if name == "exp_name" else f"-beta{args.beta:g}"))
    if args.command == "mnist" and args.latent_size != 2:  # keep other latent sizes out of the 2-D run's folders
        for name, default in (("exp_name", MNIST_EXP), ("weights_dir", "weights/mnist-$autoencoder_type")):
            if getattr(args, name).startswith(default):
                setattr(args, name, getattr(args, name) + "-latent=$latent_size")
    for name in ("exp_name", "weights_dir"):
        if hasattr(args, name):
            setattr(args, name, string.Template(getattr(args, name)).safe_substitute(vars(args)))
    if hasattr(args, "exp_name"):
        exp = Path(args.exp_name)
        if not args.exp_name or exp.is_absolute() or ".." in exp.parts:
            parser.error(f"--exp_name {args.exp_name!r} must be a folder name inside --out_dir (no absolute path, "
                         "no '..')")
    return args


def betas_arg(text):
    try:
        return ensemble.betas_list(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def check_device(parser, device):
    try:
        kind = torch.device(device).type
    except (RuntimeError, ValueError):
        parser.error(f"--device {device!r} is not a device; use cpu, cuda or cuda:N")
    if kind not in ("cpu", "cuda"):
        parser.error(f"--device {device!r}: this trainer runs on cpu or cuda")
    if kind == "cuda" and not torch.cuda.is_available():
        parser.error(f"--device {device}: no CUDA GPU is available here; use --device cpu")


def check_outputs(args):
    """Before any data is loaded or any epoch trained: refuse what would lose the user's work, and say where the
    run will write. Raises RunError."""
    run_dir = Path(args.out_dir) / args.exp_name
    has_run = (run_dir / "checkpoint.safetensors").exists() or (run_dir / "perf_metrics.csv").exists()
    if has_run and not args.resume:
        raise RunError(f"{run_dir} already holds a run; pass --resume to continue it, or choose another --exp_name "
                       "or --out_dir for a new one.")
    weights = Path(args.weights_dir)
    if (weights / "model.safetensors").exists() and not args.replace_weights:
        raise RunError(f"{weights} already holds weights, which this run would replace; pass --replace_weights to "
                       "replace them, or --weights_dir to export elsewhere.")
    for folder in (run_dir, weights):
        try:
            folder.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryFile(dir=folder):
                pass
        except OSError as e:
            raise RunError(f"cannot write to {folder} ({e.strerror or type(e).__name__}).") from None
    what = "replacing the weights there" if (weights / "model.safetensors").exists() else "new weights"
    print(f"Results in {run_dir}; weights to {weights} ({what}).")


def loop_config(args):
    return LoopConfig(out_dir=Path(args.out_dir) / args.exp_name, n_epochs=args.n_epochs, batch_size=args.batch_size,
                      lr=args.lr, n_mc_samples=args.n_mc_samples, seed=args.seed, device=args.device,
                      resume=args.resume, quiet=args.quiet, cuda_graph=not args.eager, beta=getattr(args, "beta", 1.0),
                      # on a GPU the test pass is a few large batches
                      eval_batch_size=10_000 if args.device.startswith("cuda") else 1000)


@torch.inference_mode()
def encode_all(model, x, y=None, batch_size=1000):
    """The codes (mu, logvar; zeros for the AE) of x, with the labels y for a conditional model."""
    model.eval()
    mus, logvars = [], []
    for i in range(0, len(x), batch_size):
        xb = x[i:i + batch_size]
        mu, logvar = model.encode(xb) if y is None else model.encode(xb, y[i:i + batch_size])
        mus.append(mu)
        logvars.append(mu.new_zeros(mu.shape) if logvar is None else logvar)
    return torch.cat(mus), torch.cat(logvars)


def run_mnist(args):
    check_outputs(args)
    cfg = loop_config(args)
    cfg.model_settings = {"autoencoder_type": args.autoencoder_type, "hidden_layer_size": args.hidden_layer_size,
                          "latent_size": args.latent_size, "beta": args.beta}
    data = load_mnist(args.data_dir)
    (train_x, train_y), (test_x, test_y) = data["train"], data["test"]
    conditional = args.autoencoder_type == "cvae"
    print(f"MNIST: {len(train_x)} training and {len(test_x)} test images, binarised; results in {cfg.out_dir}")
    started = time.perf_counter()
    torch.manual_seed(args.seed)
    if conditional:
        model = ConditionalVAE(hidden_size=args.hidden_layer_size, latent_size=args.latent_size)
    else:
        model = Autoencoder(args.autoencoder_type, hidden_size=args.hidden_layer_size, latent_size=args.latent_size)
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
    if model.latent_size == 2:
        artifacts.plot_latent_scatter(mu, test_y, out / "manifold.png", title=f"{name}: test-set codes")
        if conditional:  # the style manifold of each digit: the same z, decoded as 0, 1, ..., 9
            artifacts.save_class_grids([decode_grid(model, n=10, lim=2.0, y=k) for k in range(model.n_classes)],
                                       out / "class_grids.png")
            files.append(out / "class_grids.png")
        else:
            artifacts.save_grid(decode_grid(model, n=20, lim=2.0), out / "manifold_digits.png", nrow=20)
            files.append(out / "manifold_digits.png")
        files.append(out / "manifold.png")
    else:
        print(f"A {model.latent_size}-D latent space: no manifold figures (they need 2 dimensions).")
    images, labels = read_split(args.data_dir, "test")

    def write_extras(folder):
        # What the app needs without MNIST: the 10,000 test codes with labels, and one example image per digit.
        tensors = {"mu": mu.contiguous(), "labels": test_y.to(torch.uint8)}
        if model.is_vae:
            tensors["logvar"] = logvar.contiguous()
        save_file(tensors, folder / "test_latents.safetensors")
        artifacts.write_json(folder / "training.json", {
            "autoencoder_type": args.autoencoder_type, "beta": args.beta, "n_epochs": args.n_epochs,
            "batch_size": args.batch_size, "lr": args.lr, "n_mc_samples": args.n_mc_samples, "seed": args.seed,
            "device": torch.cuda.get_device_name(cfg.device) if cfg.device.startswith("cuda") else "cpu",
            "cuda_graph": cfg.cuda_graph and cfg.device.startswith("cuda"), "torch": torch.__version__})
        if not model.is_vae and model.latent_size == 2:  # what lets the AE sample: a density fitted to its codes
            try:
                save_code_density(fit_code_density(encode_all(model, train_x)[0], seed=args.seed), folder)
            except ImportError:  # a training machine without scikit-learn (the app's requirements have it)
                print("scikit-learn is not installed: no code_density.safetensors; add it later with "
                      f"python -m train density {args.weights_dir}")
        (folder / "examples").mkdir()
        for digit in range(10):
            hits = (labels == digit).nonzero()
            if len(hits):
                image = images[int(hits[0])].float().div(255).unsqueeze(0)
                save_image(image, folder / "examples" / f"digit_{digit}.png")

    artifacts.export_weights(model, args.weights_dir, files, write_extras)
    print(f"Final epoch {last}: train {rows[-1]['train_loss']:.2f}, test {rows[-1]['test_loss']:.2f}. "
          f"Weights exported to {args.weights_dir}")
    print(wall_time(started, cfg))


def wall_time(started, cfg):
    step = "CUDA-graph" if cfg.device.startswith("cuda") and cfg.cuda_graph and not dist.is_initialized() else "eager"
    return (f"Wall time from the data in memory to the exported weights: {time.perf_counter() - started:.1f} s "
            f"({step} steps on {torch.cuda.get_device_name(cfg.device) if cfg.device.startswith('cuda') else 'the CPU'})")


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
    rank, device = setup_distributed(args.device)
    if rank == 0:
        check_outputs(args)
    cfg = loop_config(args)
    cfg.device = device
    cfg.model_settings = {"latent_size": args.latent_size, "subset": args.subset}
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
        artifacts.export_weights(model.cpu().eval(), args.weights_dir, files)
        print(f"Final epoch {last}: train {rows[-1]['train_loss']:.2f}, test {rows[-1]['test_loss']:.2f}. "
              f"Weights exported to {args.weights_dir}")
        print(wall_time(started, cfg))
    if dist.is_initialized():
        dist.destroy_process_group()


def load_weights(source):
    return load_pretrained([Autoencoder, ConditionalVAE], source)


def run_evaluate(args):
    test_x, test_y = (t.to(args.device) for t in load_mnist(args.data_dir)["test"])
    results = {}
    for source in args.weights:
        results[source] = evaluate_model(load_weights(source).to(args.device), test_x, args.n_samples, args.seed,
                                         grid=getattr(args, "grid", 240), y=test_y)
        print(format_result(source, results[source]), flush=True)
    return results


def run_report(args):
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
    Path(args.out).mkdir(parents=True, exist_ok=True)
    lines = spectrum_figures(args.weights, load_mnist(args.data_dir), args.out, load_weights)
    print("\n".join(lines))
    print(f"Figures and spectrum.txt written to {args.out}")


def run_subset(args):
    tensors = pack_subset(load_mnist(args.data_dir), args.n_train, args.n_test, args.seed)
    with artifacts.atomic_path(args.out) as tmp:
        save_file(tensors, tmp, metadata={"what": "binarised MNIST (round(pixel / 255)), 8 pixels a byte",
                                          "seed": str(args.seed)})
    print(f"Wrote {args.out}: {args.n_train} training and {args.n_test} test digits, "
          f"{Path(args.out).stat().st_size / 1e6:.2f} MB")


def run_ensemble(args):
    if args.seeds < 1:
        raise RunError("--seeds must be at least 1")
    data = load_mnist(args.data_dir)
    try:
        return ensemble.run(args, data["train"][0], data["test"][0])
    except (FileExistsError, ensemble.ResumeError) as e:
        raise RunError(str(e)) from None


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
        return {"mnist": run_mnist, "celeba": run_celeba, "evaluate": run_evaluate,
                "report": run_report, "spectrum": run_spectrum, "density": run_density,
                "subset": run_subset, "ensemble": run_ensemble}[args.command](args)
    except (DataError, RunError, WeightsError) as e:
        sys.exit(f"error: {e}")


if __name__ == "__main__":
    main()
