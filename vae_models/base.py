"""What every model of this project offers, written once: the contract the loss, the trainer, the evaluation and the
app rely on (the AE, the VAEs, the conditional VAE and the convolutional VAE all keep it).

    encode(x, y=None)            -> mu (B, n), logvar (B, n) or None (the AE: its code is mu itself)
    sample(mu, logvar, L)        -> z (L, B, n) by reparameterisation (z = mu for the AE)
    sample_prior(n, generator)   -> z (n, latent_size) ~ p(z) = N(0, I), on the model's device
    decode_logits(z, y=None)     -> Bernoulli logits, shaped (..., *image_shape) or (..., 784)
    decode(z, y=None)            -> pixel probabilities, the sigmoid of the logits
    forward(x, L=1, y=None)      -> (logits (L, B, ...), mu, logvar): what loss_function takes
    latent_size, image_shape, kind ("ae", "vae", "cvae"), is_vae, n_classes (0 unless labels are given)

y is the label, for the conditional model only; the others accept and ignore it.
"""
import torch
from huggingface_hub import PyTorchModelHubMixin
from torch import nn

from .elbo import reparameterize

CARD = """---
{{ card_data }}
---

# {{ model_name | default("A model of VAE Explorer", true) }}

Weights made by the trainer of VAE Explorer (`python -m train`), an interactive demo of autoencoders and VAEs: an
autoencoder or variational autoencoder (Kingma and Welling 2014) with a Bernoulli decoder (a 2-D latent for MNIST,
128-D for 64x64 faces). `config.json` holds the constructor's arguments, `model.safetensors` the weights; the folder's
`perf_metrics.csv` the training curves and `training.json` (when present) the command's settings and device.

```python
from vae_models import Autoencoder, ConditionalVAE, ConvVAE, load_pretrained
model = load_pretrained([Autoencoder, ConditionalVAE, ConvVAE], "path/or/user-repo")  # checked before it is built
mu, logvar = model.encode(x)            # x: (B, 784) in {0, 1}; logvar is None for a plain AE
images = model.decode(model.sample_prior(16))
```

- Paper: {{ paper_url | default("[More Information Needed]", true) }}
"""


class LatentVariableModel(nn.Module, PyTorchModelHubMixin, tags=["vae-explorer", "autoencoder", "vae"],
                          paper_url="https://arxiv.org/abs/1312.6114", model_card_template=CARD):
    """The base of every model here; subclasses build their layers and write encode and decode_logits."""

    kind = "vae"
    n_classes = 0

    @property
    def is_vae(self):
        return self.kind != "ae"

    def encode(self, x, y=None):
        raise NotImplementedError

    def decode_logits(self, z, y=None):
        raise NotImplementedError

    def sample(self, mu, logvar, n_samples=1, generator=None):
        """z ~ q(z|x) by reparameterisation: (B, n) -> (L, B, n); the AE's z is mu."""
        return reparameterize(mu, logvar, n_samples, generator)

    def sample_prior(self, n, generator=None, y=None):
        """n codes z ~ p(z) = N(0, I): (n, latent_size), on the model's device (the prior of every model here is
        the standard normal, given y or not; y is accepted so a conditional model's callers read alike).
        The noise is drawn on the CPU by `generator` (or torch's global one) and then moved, so a seed gives the same
        codes on every device."""
        z = torch.randn(n, self.latent_size, generator=generator)
        return z.to(next(self.parameters()).device)

    def decode(self, z, y=None):
        """Pixel probabilities lambda in (0, 1)."""
        return torch.sigmoid(self.decode_logits(z, y))

    def forward(self, x, n_samples=1, y=None):
        """x -> logits (L, B, ...) for L samples of z, mu, logvar (None for the AE)."""
        mu, logvar = self.encode(x, y)
        return self.decode_logits(self.sample(mu, logvar, n_samples), y), mu, logvar
