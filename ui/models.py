"""What the app shows, loaded once at start: each MNIST model with its test-set codes, map and metrics; the faces
model if there is one; the example digits. Built from folders by `load_models`, or from models made in a test."""
import csv
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file

from train.mnist import DataError, load_subset
from vae_models import Autoencoder, ConditionalVAE, ConvVAE, WeightsError, load_pretrained
from vae_models.code_density import fit_code_density, load_code_density
from vae_models.posterior import DecodedGrid

from .pictures import LatentMap, render_map

MNIST_MODELS = ("AE", "VAE")  # the order of every side-by-side view: AE left, VAE right
CONDITIONAL = "CVAE"  # the conditional VAE's name on the page


@dataclass
class Explorer:
    """One MNIST model with what its views need: codes of the test set, their map, the last metrics row."""
    name: str
    model: Autoencoder
    mu: np.ndarray  # (N, 2) test-set codes
    labels: np.ndarray  # (N,) their digits
    map: LatentMap
    metrics: dict = field(default_factory=dict)
    loss_curve: str | None = None  # a PNG path
    scan: DecodedGrid | None = None  # for a VAE: its decoder on a fixed grid, where the true posterior is looked for
    density: dict | None = None  # for an AE: the mixture fitted to its training codes (vae_models.code_density)
    beta: float | None = None  # the weight its KL term had in training; None for the AE (no KL term)

    @classmethod
    def build(cls, name, model, mu, labels, metrics=None, loss_curve=None, density=None, beta=None):
        model = model.eval()
        scan = DecodedGrid(model) if model.is_vae and model.latent_size == 2 and not model.n_classes else None
        beta = beta if beta is not None or not model.is_vae else 1.0
        return cls(name, model, mu, labels, render_map(mu, labels, name), metrics or {}, loss_curve, scan, density,
                   beta)


@dataclass
class Models:
    explorers: dict  # name -> Explorer, in MNIST_MODELS order
    faces: ConvVAE | None = None
    spectrum: dict = field(default_factory=dict)  # every unconditional model, AE first, then the VAEs by beta
    conditional: Explorer | None = None  # the conditional VAE (its codes are those given the true labels)
    subset: dict | None = None  # the packed MNIST subset the Train tab learns from (train.mnist.load_subset)
    examples: list = field(default_factory=list)  # paths of digit_0.png ... digit_9.png
    faces_note: str = ""  # why there is no faces model, for the Faces tab

    @property
    def example_folder(self):
        return Path(self.examples[0]).parent if self.examples else None


def read_beta(folder):
    """The beta a VAE was trained with: training.json's, else the folder name's (mnist-vae-beta4), else 1."""
    try:
        return float(json.loads((Path(folder) / "training.json").read_text())["beta"])
    except (OSError, ValueError, KeyError, TypeError):
        found = re.search(r"-beta([0-9.]+)$", Path(folder).name)
        return float(found.group(1)) if found else 1.0


def load_explorer(name, folder):
    """A weights folder written by `python -m train` -> Explorer, or WeightsError naming the folder."""
    folder = Path(folder)
    model = load_pretrained([Autoencoder, ConditionalVAE], folder)
    try:
        latents = load_file(folder / "test_latents.safetensors")
        mu, labels = latents["mu"].numpy(), latents["labels"].numpy()
    except (FileNotFoundError, SafetensorError, KeyError) as e:
        raise WeightsError(f"{folder}: test_latents.safetensors is missing or damaged ({type(e).__name__}).") from None
    if mu.ndim != 2 or mu.shape[1] != 2 or len(labels) != len(mu) or not np.isfinite(mu).all():
        raise WeightsError(f"{folder}: test_latents.safetensors does not hold finite 2-D codes with one label each.")
    try:
        with open(folder / "perf_metrics.csv") as f:
            metrics = list(csv.DictReader(f))[-1]
    except (OSError, IndexError, csv.Error):
        metrics = {}
    curve = folder / "loss_curve.png"
    try:
        density = load_code_density(folder)
    except (SafetensorError, OSError) as e:
        raise WeightsError(f"{folder}: code_density.safetensors is damaged ({type(e).__name__}).") from None
    if density is not None and density["means"].shape[1] != mu.shape[1]:
        raise WeightsError(f"{folder}: code_density.safetensors is a mixture in {density['means'].shape[1]} "
                           f"dimensions, not the model's {mu.shape[1]}.")
    return Explorer.build(name, model, mu, labels, metrics, str(curve) if curve.exists() else None, density,
                          read_beta(folder) if model.is_vae else None)


def spectrum_of(explorers, more):
    """The AE, then every VAE by its beta (the KL term's weight): from no KL term to the most."""
    vaes = sorted([explorers["VAE"], *more], key=lambda e: e.beta)
    return {e.name: e for e in [explorers["AE"], *vaes]}


def load_models(weights, celeba_source=None):
    """weights/mnist-ae, weights/mnist-vae (required); the beta-VAEs weights/mnist-vae-beta*, the conditional VAE
    weights/mnist-cvae and the CelebA ConvVAE (each optional: left out, with a line for the operator, when missing
    or unusable) -> Models."""
    weights = Path(weights)
    explorers = {name: load_explorer(name, weights / f"mnist-{name.lower()}") for name in MNIST_MODELS}
    betas, conditional = [], None
    for folder in sorted(weights.glob("mnist-vae-beta*")):
        try:
            betas.append(load_explorer(f"VAE beta={read_beta(folder):g}", folder))
        except WeightsError as e:
            print(f"Left out: {e}")
    if (weights / "mnist-cvae").is_dir():
        try:
            conditional = load_explorer(CONDITIONAL, weights / "mnist-cvae")
        except WeightsError as e:
            print(f"Left out: {e}")
    examples = sorted((weights / "mnist-vae" / "examples").glob("digit_*.png"))
    faces, note = None, ("No face model is loaded on this server; when one is, this tab samples, reconstructs and "
                         "interpolates 64x64 faces with a convolutional VAE trained on CelebA.")
    if celeba_source:
        try:
            faces = load_pretrained(ConvVAE, celeba_source)
        except WeightsError as e:
            print(f"Faces tab without a model: {e}")  # for the operator; visitors see `note`, never a path
    subset = None
    if (weights / "mnist-subset.safetensors").exists():
        try:
            subset = load_subset(weights / "mnist-subset.safetensors")
        except DataError as e:
            print(f"The Train tab has no data: {e}")
    return Models(explorers, faces, spectrum=spectrum_of(explorers, betas), conditional=conditional,
                  subset=subset, examples=examples, faces_note=note)


def untrained_models(seed=0):
    """Small untrained models with random codes: the whole app without any shipped weights (for tests)."""
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    explorers = {}
    for name in MNIST_MODELS:
        model = Autoencoder(kind=name.lower(), hidden_size=16)
        mu = rng.normal(0, 1.5 if name == "VAE" else 6, (200, 2)).astype(np.float32)
        density = fit_code_density(torch.from_numpy(mu), n_components=3) if name == "AE" else None
        explorers[name] = Explorer.build(name, model, mu, rng.integers(0, 10, 200), density=density)
    beta4 = Explorer.build("VAE beta=4", Autoencoder("vae", hidden_size=16), rng.normal(0, 1, (200, 2)),
                           rng.integers(0, 10, 200), beta=4.0)
    cvae = Explorer.build(CONDITIONAL, ConditionalVAE(hidden_size=16), rng.normal(0, 1, (200, 2)),
                          rng.integers(0, 10, 200))
    faces = ConvVAE(latent_size=4, channels=(4, 8, 8, 8)).eval()

    def bits(n):
        return torch.from_numpy(rng.random((n, 784)) < 0.15).float(), torch.from_numpy(rng.integers(0, 10, n))

    return Models(explorers, faces, spectrum_of(explorers, [beta4]), cvae, subset={"train": bits(2000),
                                                                                 "test": bits(200)})
