"""After training: what a weights folder holds (the MNIST export), and the checks that keep a user's files safe.

The export writes config.json + model.safetensors (save_pretrained) and the run's files beside them; its
training.json carries a marker (TRAINER), so a later export can tell a folder it wrote from one of the user's.
"""
import json
from pathlib import Path

import torch
from safetensors.torch import save_file

from vae_models import decode_grid
from vae_models.code_density import fit_code_density, save_code_density

from . import artifacts, figures
from .loop import RunError

TRAINER = "python -m train"  # training.json's "trainer": the marker of a folder this trainer exported
# every name an export may write into --weights_dir (the numbered pictures match reconstruction_*.png, sample_*.png)
EXPORT_FILES = ("config.json", "model.safetensors", "README.md", "training.json", "perf_metrics.csv", "loss_curve.png",
                "manifold.png", "manifold_digits.png", "class_grids.png", "test_latents.safetensors",
                "code_density.safetensors")
EXPORT_FOLDERS = ("examples",)
EXPORT_PATTERNS = ("reconstruction_*.png", "sample_*.png")


def is_export(folder):
    """True when folder/training.json says this trainer wrote the folder."""
    try:
        facts = json.loads((Path(folder) / "training.json").read_text()[:64_000])
    except (OSError, UnicodeDecodeError, ValueError, RecursionError):
        return False
    return isinstance(facts, dict) and facts.get("trainer") == TRAINER


def check_weights_dir(weights, replace):
    """Refuse (RunError) an export into `weights` that would replace anything the user made: a folder holding any
    file an export writes is replaced only when it is an earlier export (its marker says so) and replace is True.
    Also refuses a destination the export could not write (a file where a folder goes, and back)."""
    weights = Path(weights)
    if weights.exists() and not weights.is_dir():
        raise RunError(f"--weights_dir {weights} is a file, not a folder; choose a folder.")
    if not weights.is_dir():
        return
    for name in EXPORT_FOLDERS:
        if (weights / name).exists() and not (weights / name).is_dir():
            raise RunError(f"{weights / name} is a file where the export writes a folder; move it or choose another "
                           "--weights_dir.")
    found = [n for n in EXPORT_FILES + EXPORT_FOLDERS if (weights / n).exists()]
    found += sorted(p.name for pattern in EXPORT_PATTERNS for p in weights.glob(pattern))
    for name in found:
        if name not in EXPORT_FOLDERS and (weights / name).is_dir():
            raise RunError(f"{weights / name} is a folder where the export writes a file; move it or choose another "
                           "--weights_dir.")
    if not found:
        return
    if not is_export(weights):
        raise RunError(f"{weights} holds files of yours that the export would replace ({', '.join(found[:3])}) and "
                       "no training.json of an earlier export; choose another --weights_dir.")
    if not replace:
        raise RunError(f"{weights} already holds weights, which this run would replace; pass --replace_weights to "
                       "replace them, or --weights_dir to export elsewhere.")


def training_facts(args, cfg, **more):
    """training.json: the marker, the command's settings and the device, read by the app (beta) and by a later
    export (the marker)."""
    device = torch.cuda.get_device_name(cfg.device) if cfg.device.startswith("cuda") else "cpu"
    return {"trainer": TRAINER, **more, "n_epochs": args.n_epochs, "batch_size": args.batch_size, "lr": args.lr,
            "n_mc_samples": args.n_mc_samples, "seed": args.seed, "device": device,
            "cuda_graph": cfg.fused_step and cfg.device.startswith("cuda"), "torch": torch.__version__}


def write_training_json(folder, facts):
    artifacts.write_json(Path(folder) / "training.json", facts)


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


def mnist_figures(model, mu, test_y, out, name):
    """The run's final figures of a 2-D latent space (manifold.png, and manifold_digits.png or, for a conditional
    model, class_grids.png) -> their paths; none for another latent size."""
    if model.latent_size != 2:
        print(f"A {model.latent_size}-D latent space: no manifold figures (they need 2 dimensions).")
        return []
    figures.plot_latent_scatter(mu, test_y, out / "manifold.png", title=f"{name}: test-set codes")
    if model.n_classes:  # the style manifold of each digit: the same z, decoded as 0, 1, ..., 9
        figures.save_class_grids([decode_grid(model, n=10, lim=2.0, y=k) for k in range(model.n_classes)],
                                 out / "class_grids.png")
        return [out / "class_grids.png", out / "manifold.png"]
    figures.save_grid(decode_grid(model, n=20, lim=2.0), out / "manifold_digits.png", nrow=20)
    return [out / "manifold_digits.png", out / "manifold.png"]


def write_mnist_extras(folder, model, codes, train_x, examples, facts, seed, weights_dir):
    """What the app needs without MNIST, into the export's folder: the test codes with their labels
    (test_latents.safetensors), training.json, the AE's code density, one example image per digit.
    codes: (mu, logvar, labels) of the test set; examples: (uint8 images, labels) of the test split."""
    mu, logvar, labels = codes
    tensors = {"mu": mu.contiguous(), "labels": labels.to(torch.uint8)}
    if model.is_vae:
        tensors["logvar"] = logvar.contiguous()
    save_file(tensors, folder / "test_latents.safetensors")
    write_training_json(folder, facts)
    if not model.is_vae and model.latent_size == 2:  # what lets the AE sample: a density fitted to its codes
        try:
            save_code_density(fit_code_density(encode_all(model, train_x)[0], seed=seed), folder)
        except ImportError:  # a training machine without scikit-learn (the app's requirements have it)
            print("scikit-learn is not installed: no code_density.safetensors; add it later with "
                  f"python -m train density {weights_dir}")
    (folder / "examples").mkdir()
    images, image_labels = examples
    for digit in range(10):
        hits = (image_labels == digit).nonzero()
        if len(hits):
            figures.save_image(images[int(hits[0])].float().div(255).unsqueeze(0),
                               folder / "examples" / f"digit_{digit}.png")
