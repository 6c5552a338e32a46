"""A convolutional VAE for 64x64 RGB faces (CelebA).

Likelihood: Bernoulli on pixels in [0, 1], as for MNIST, so the loss is the same negative ELBO (BCE + KL) and one
training loop serves both. For non-binary pixels this is the usual practical choice (it is the cross-entropy
against the pixel intensity); its absolute value is not a normalised log-likelihood, but its gradient pulls each
output towards the pixel, and BCE and KL are reported apart.
"""
import numpy as np
from PIL import Image
from torch import nn

from .base import LatentVariableModel


# CelebA's aligned faces are 178x218; their central 148x148 square is one common crop for 64x64 models (108 and 140
# are as common). Other images get the same fraction of their shorter side, so a face fills the frame alike.
CROP_FRACTION = 148 / 178


def crop_face(image, size=64):
    """A PIL image -> uint8 (3, size, size): the central square of CROP_FRACTION of the shorter side, resized.

    The one crop of the project: the trainer's cache and the app's Faces tab both use it."""
    image = image.convert("RGB")
    w, h = image.size
    side = max(1, round(CROP_FRACTION * min(w, h)))
    left, top = round((w - side) / 2), round((h - side) / 2)
    face = image.resize((size, size), Image.Resampling.BILINEAR, box=(left, top, left + side, top + side))
    return np.asarray(face).transpose(2, 0, 1).copy()


def _down(c_in, c_out):
    return nn.Sequential(nn.Conv2d(c_in, c_out, 4, 2, 1, bias=False), nn.BatchNorm2d(c_out), nn.LeakyReLU(0.2))


def _up(c_in, c_out):
    return nn.Sequential(nn.ConvTranspose2d(c_in, c_out, 4, 2, 1, bias=False), nn.BatchNorm2d(c_out), nn.LeakyReLU(0.2))


class ConvVAE(LatentVariableModel):
    """(B, 3, 64, 64) -> four stride-2 convolutions -> (B, 256, 4, 4) -> fc -> mu, logvar (B, latent_size),
    and the mirror image of transposed convolutions back to (B, 3, 64, 64) logits."""

    def __init__(self, latent_size=128, channels=(32, 64, 128, 256), image_channels=3):
        super().__init__()
        self.kind = "vae"
        self.image_shape = (image_channels, 64, 64)
        self.latent_size = latent_size
        channels = list(channels)
        c = [image_channels] + channels
        self.encoder = nn.Sequential(*[_down(c[i], c[i + 1]) for i in range(len(channels))])
        side = 64 // 2 ** len(channels)
        self.top_shape = (channels[-1], side, side)
        flat = channels[-1] * side * side
        self.fc_mu = nn.Linear(flat, latent_size)
        self.fc_logvar = nn.Linear(flat, latent_size)
        self.fc_dec = nn.Linear(latent_size, flat)
        r = channels[::-1]
        self.decoder = nn.Sequential(
            *[_up(r[i], r[i + 1]) for i in range(len(r) - 1)],
            nn.ConvTranspose2d(r[-1], image_channels, 4, 2, 1),
        )

    def encode(self, x, y=None):
        """x: (B, 3, 64, 64) in [0, 1] -> mu, logvar, each (B, latent_size)."""
        h = self.encoder(x).flatten(1)
        return self.fc_mu(h), self.fc_logvar(h)

    def decode_logits(self, z, y=None):
        """z: (..., latent_size) -> logits (..., 3, 64, 64)."""
        lead = z.shape[:-1]
        h = self.fc_dec(z.reshape(-1, z.shape[-1])).view(-1, *self.top_shape)
        return self.decoder(h).view(*lead, *self.image_shape)


