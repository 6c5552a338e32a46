"""The MNIST autoencoder and variational autoencoder : 784-512-2 MLPs."""
import torch
from torch import nn
from huggingface_hub import PyTorchModelHubMixin

from .elbo import reparameterize


class Autoencoder(nn.Module, PyTorchModelHubMixin):
    """784 -> fc -> ReLU -> 512 -> fc -> 2 -> fc -> ReLU -> 512 -> fc -> Sigmoid -> 784.

    kind="ae" is the deterministic autoencoder; kind="vae" adds one fc 512 -> 2 for the log-variance and samples
    z = mu + exp(logvar / 2) * eps. Saved as config.json + model.safetensors by PyTorchModelHubMixin.
    """

    def __init__(self, kind="vae", data_size=784, hidden_size=512, latent_size=2):
        super().__init__()
        if kind not in ("ae", "vae"):
            raise ValueError(f"kind must be 'ae' or 'vae', not {kind!r}")
        self.kind = kind
        self.image_shape = (1, 28, 28) if data_size == 784 else (1, data_size)
        self.latent_size = latent_size
        self.fc1 = nn.Linear(data_size, hidden_size)
        self.fc_mu = nn.Linear(hidden_size, latent_size)
        self.fc_logvar = nn.Linear(hidden_size, latent_size) if kind == "vae" else None
        self.fc3 = nn.Linear(latent_size, hidden_size)
        self.fc4 = nn.Linear(hidden_size, data_size)

    @property
    def is_vae(self):
        return self.kind == "vae"

    def encode(self, x):
        """x: (B, 784) in [0, 1] -> mu (B, 2), logvar (B, 2) or None for the AE."""
        h = torch.relu(self.fc1(x.flatten(1)))
        return self.fc_mu(h), (self.fc_logvar(h) if self.is_vae else None)

    def sample(self, mu, logvar, n_samples=1, generator=None):
        """z ~ q(z|x) by reparameterisation: (B, 2) -> (L, B, 2); the AE's z is mu."""
        return reparameterize(mu, logvar, n_samples, generator)

    def decode_logits(self, z):
        """z: (..., 2) -> Bernoulli logits (..., 784); the loss works on these for numerical safety."""
        return self.fc4(torch.relu(self.fc3(z)))

    def decode(self, z):
        """z: (..., 2) -> pixel probabilities lambda in (0, 1), shape (..., 784)."""
        return torch.sigmoid(self.decode_logits(z))

    def forward(self, x, n_samples=1):
        """x: (B, 784) -> logits (L, B, 784), mu (B, 2), logvar (B, 2) or None."""
        mu, logvar = self.encode(x)
        z = self.sample(mu, logvar, n_samples)
        return self.decode_logits(z), mu, logvar
