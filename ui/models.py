"""What the app shows, loaded once at start: each MNIST model with its test-set codes, map and metrics; the faces
model if there is one; the example digits. Built from folders by `load_models`, or from models made in a test."""
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file

from train.artifacts import discover_models, model_facts, read_json, read_metrics
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
    # for a VAE: the log p(x) below which an input does not look like a digit to it (log_px.json, written by
    # `python -m train.likelihood`: the test set's 0.1% quantile); None where it was not computed
    log_px_floor: float | None = None
    training: dict = field(default_factory=dict)  # its training.json (how it was trained), where it has one

    @property
    def epochs(self) -> int | None:
        """How many epochs it was trained: its training record's, else its last metrics row's; None if unknown."""
        n = self.training.get("n_epochs")
        if isinstance(n, int) and not isinstance(n, bool) and n > 0:
            return n
        try:
            return int(self.metrics["epoch"]) + 1
        except (KeyError, TypeError, ValueError):
            return None

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

    def vaes_by_beta(self):
        """The VAEs of the spectrum other than beta 1, by beta."""
        return [e for e in self.spectrum.values() if e.beta is not None and e.beta != 1]

    def loaded(self) -> str:
        """What is loaded, in one sentence for the page: the models, how long they were trained, the other betas."""
        ae, vae = self.explorers["AE"], self.explorers["VAE"]
        trained = [e.epochs for e in (ae, vae)]
        if trained[0] == trained[1] and trained[0] is not None:
            text = f"the AE and the VAE here were trained on MNIST for {epochs(trained[0])}"
        else:
            text = "the AE and the VAE here were trained on MNIST" + (
                f" ({epochs(trained[0]) if trained[0] else 'epochs unknown'} and "
                f"{epochs(trained[1]) if trained[1] else 'epochs unknown'})" if any(trained) else "")
        more = self.vaes_by_beta()
        parts = []
        if more:
            parts.append(f"VAEs with β = {', '.join(f'{e.beta:g}' for e in more)}")
        if self.conditional is not None:
            parts.append("a conditional VAE")
        return text + (", beside " + " and ".join(parts) if parts else "") + "."

    def start_line(self) -> str:
        """One line for the operator at start: what was loaded, which tabs are off and why."""
        names = [f"{e.name} ({epochs(e.epochs) if e.epochs else 'epochs unknown'})"
                 for e in [*self.spectrum.values(), *([self.conditional] if self.conditional else [])]]
        off = []
        if self.conditional is None:
            off.append("Conditional VAE (no conditional VAE in the weights folder)")
        if self.faces is None:
            off.append("Faces (no CelebA model)")
        if self.subset is None:
            off.append("Train (no mnist-subset.safetensors in the weights folder: python -m train subset writes it)")
        if len(self.spectrum) < 3:
            off.append("AE to VAE shows only the AE and the VAE (no VAE of another beta)")
        return f"Loaded {', '.join(names)}" + (f"; off: {'; '.join(off)}" if off else "; every tab on") + "."

    @property
    def example_folder(self):
        return Path(self.examples[0]).parent if self.examples else None


def epochs(n):
    return f"{n} epoch" + ("s" if n != 1 else "")


def load_explorer(name, folder, test_digits=None):
    """A weights folder written by `python -m train` -> Explorer, or WeightsError naming the folder.
    test_digits: (x (N, 784), labels) whose codes the map shows where the folder has no test_latents.safetensors, as
    a model downloaded from the Train tab (config.json + model.safetensors only)."""
    folder = Path(folder)
    model = load_pretrained([Autoencoder, ConditionalVAE], folder)
    if not (folder / "test_latents.safetensors").exists() and test_digits is not None:
        x, y = test_digits
        with torch.no_grad():
            mu = model.eval().encode(x, y if isinstance(model, ConditionalVAE) else None)[0].numpy()
        labels = y.numpy()
    else:
        try:
            latents = load_file(folder / "test_latents.safetensors")
            mu, labels = latents["mu"].numpy(), latents["labels"].numpy()
        except (FileNotFoundError, SafetensorError, KeyError) as e:
            raise WeightsError(f"{folder}: test_latents.safetensors is missing or damaged ({type(e).__name__}); "
                               f"a folder of only config.json and model.safetensors needs mnist-subset.safetensors "
                               f"beside it, whose test digits give its map.") from None
    if mu.ndim != 2 or mu.shape[1] != 2 or len(labels) != len(mu) or not np.isfinite(mu).all():
        raise WeightsError(f"{folder}: test_latents.safetensors does not hold finite 2-D codes with one label each.")
    try:
        facts = model_facts(folder)
        metrics = read_metrics(folder / "perf_metrics.csv")[-1] if (folder / "perf_metrics.csv").exists() else {}
    except (OSError, ValueError) as e:
        raise WeightsError(f"{e}.") from None
    except IndexError:  # a header without rows
        metrics = {}
    curve = folder / "loss_curve.png"
    try:
        density = load_code_density(folder)
    except (SafetensorError, OSError) as e:
        raise WeightsError(f"{folder}: code_density.safetensors is damaged ({type(e).__name__}).") from None
    if density is not None and density["means"].shape[1] != mu.shape[1]:
        raise WeightsError(f"{folder}: code_density.safetensors is a mixture in {density['means'].shape[1]} "
                           f"dimensions, not the model's {mu.shape[1]}.")
    explorer = Explorer.build(name, model, mu, labels, metrics, str(curve) if curve.exists() else None, density,
                              facts.beta if facts is not None else None)
    try:
        record = read_json(folder / "training.json") if (folder / "training.json").exists() else {}
    except (OSError, ValueError) as e:
        raise WeightsError(f"{folder}: training.json is damaged ({type(e).__name__}).") from None
    explorer.training = record if isinstance(record, dict) else {}
    try:
        explorer.log_px_floor = float(read_json(folder / "log_px.json")["floor"])
    except FileNotFoundError:
        pass
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise WeightsError(f"{folder}: log_px.json is damaged ({type(e).__name__}).") from None
    return explorer


def spectrum_of(explorers, more):
    """The AE, then every VAE by its beta (the KL term's weight): from no KL term to the most."""
    vaes = sorted([explorers["VAE"], *more], key=lambda e: e.beta)
    return {e.name: e for e in [explorers["AE"], *vaes]}


def load_models(weights, celeba_source=None):
    """weights/mnist-ae, weights/mnist-vae (required); every other VAE folder in weights/ with a beta other than 1
    (the beta-VAEs), the first conditional VAE there, and the CelebA ConvVAE (each optional: left out, with a line
    for the operator, when missing or unusable) -> Models. A folder's kind and beta are read from its config.json and
    training.json, never from its name."""
    weights = Path(weights)
    subset = None
    if (weights / "mnist-subset.safetensors").exists():
        try:
            subset = load_subset(weights / "mnist-subset.safetensors")
        except DataError as e:
            print(f"The Train tab has no data: {e}")
    # the test digits whose codes a folder without test_latents.safetensors shows (a model from the Train tab)
    test = subset["test"] if subset is not None else None
    explorers = {name: load_explorer(name, weights / f"mnist-{name.lower()}", test) for name in MNIST_MODELS}
    betas, conditional = [], None
    found, problems = discover_models(weights)  # each folder's kind and beta, as its own files state them
    for line in problems:
        print(f"Left out: {line}")
    for facts in found:
        if facts.path.name in ("mnist-ae", "mnist-vae") or (facts.kind == "cvae" and conditional is not None):
            continue
        if facts.kind == "ae" or (facts.kind == "vae" and facts.beta == 1):
            continue  # the spectrum has one AE and one VAE of each beta: the two above
        try:
            explorer = load_explorer(CONDITIONAL if facts.kind == "cvae" else facts.name, facts.path, test)
        except WeightsError as e:
            print(f"Left out: {e}")
            continue
        if facts.kind == "cvae":
            conditional = explorer
        else:
            betas.append(explorer)
    examples = sorted((weights / "mnist-vae" / "examples").glob("digit_*.png"))
    faces, note = None, ("No face model is loaded on this server; when one is, this tab samples, reconstructs and "
                         "interpolates 64x64 faces with a convolutional VAE trained on CelebA.")
    if celeba_source:
        try:
            faces = load_pretrained(ConvVAE, celeba_source)
        except WeightsError as e:
            print(f"Faces tab without a model: {e}")  # for the operator; visitors see `note`, never a path
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
