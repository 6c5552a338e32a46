"""The MNIST autoencoder, variational autoencoder and conditional VAE: 784-512-2 MLPs."""
import torch
import torch.nn.functional as F
from torch import nn

from .base import LatentVariableModel


class Autoencoder(LatentVariableModel):
    """784 -> fc -> ReLU -> 512 -> fc -> 2 -> fc -> ReLU -> 512 -> fc -> Sigmoid -> 784.

    kind="ae" is the deterministic autoencoder; kind="vae" adds one fc 512 -> 2 for the log-variance and samples
    z = mu + exp(logvar / 2) * eps. Saved as config.json + model.safetensors by PyTorchModelHubMixin.
    """

    n_classes = 0  # labels concatenated to the encoder's and the decoder's input (ConditionalVAE)

    def __init__(self, kind="vae", data_size=784, hidden_size=512, latent_size=2):
        super().__init__()
        if kind not in ("ae", "vae"):
            raise ValueError(f"kind must be 'ae' or 'vae', not {kind!r}")
        self.kind = kind
        self.image_shape = (1, 28, 28) if data_size == 784 else (1, data_size)
        self.latent_size = latent_size
        self.fc1 = nn.Linear(data_size + self.n_classes, hidden_size)
        self.fc_mu = nn.Linear(hidden_size, latent_size)
        self.fc_logvar = nn.Linear(hidden_size, latent_size) if kind == "vae" else None
        self.fc3 = nn.Linear(latent_size + self.n_classes, hidden_size)
        self.fc4 = nn.Linear(hidden_size, data_size)

    def with_label(self, t, y):
        """t (..., n) -> t with the one-hot label y appended, (..., n + n_classes); t itself for an unconditional
        model. y: (B,) matching t's second-to-last dimension, or one label (a 0-d tensor or int) for every row."""
        if not self.n_classes:
            return t
        if y is None:
            raise ValueError("a conditional VAE needs the digit y as well")
        onehot = F.one_hot(torch.as_tensor(y, device=t.device), self.n_classes).to(t.dtype)
        return torch.cat([t, onehot.expand(*t.shape[:-1], self.n_classes)], -1)

    def encode(self, x, y=None):
        """x: (B, 784) in [0, 1] (and labels y (B,) for the CVAE) -> mu (B, 2), logvar (B, 2) or None for the AE."""
        h = torch.relu(self.fc1(self.with_label(x.flatten(1), y)))
        return self.fc_mu(h), (self.fc_logvar(h) if self.is_vae else None)

    def decode_logits(self, z, y=None):
        """z: (..., 2) (and labels y for the CVAE) -> Bernoulli logits (..., 784); the loss works on these for
        numerical safety."""
        return self.fc4(torch.relu(self.fc3(self.with_label(z, y))))


class ConditionalVAE(Autoencoder):
    """The conditional VAE (Sohn et al. 2015): encoder q(z|x, y), decoder p(x|z, y), the label y one-hot and
    concatenated to the image at the encoder's input and to z at the decoder's input; otherwise the VAE, with the
    same sizes and loss. With the digit given, z is left to hold the style: slant, width, stroke."""

    def __init__(self, data_size=784, hidden_size=512, latent_size=2, n_classes=10):
        self.n_classes = n_classes  # read by Autoencoder.__init__ when it sizes fc1 and fc3
        super().__init__("vae", data_size, hidden_size, latent_size)
        self.kind = "cvae"

    def bind(self, y):
        """This model with the labels y fixed: encode(x), decode_logits(z), decode(z) as an unconditional model's,
        for the code that evaluates any VAE (log p(x|y) by quadrature or importance sampling)."""
        return Conditioned(self, y)


class Conditioned(LatentVariableModel):
    """A ConditionalVAE seen through fixed labels y (a batch (B,) or one label): p(x|z, y) as a VAE of x alone, so
    the code that evaluates any VAE (encode, sample, decode, sample_prior) takes it as it is."""

    kind = "vae"

    def __init__(self, model, y):
        super().__init__()
        self.model, self.y = model, y
        self.latent_size, self.image_shape = model.latent_size, model.image_shape

    def encode(self, x, y=None):
        return self.model.encode(x, self.y)

    def decode_logits(self, z, y=None):
        return self.model.decode_logits(z, self.y)
