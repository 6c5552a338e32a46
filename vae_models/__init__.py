"""What a model is: the MNIST autoencoders, the CelebA convolutional VAE, their loss and the latent grid."""
from .conv import ConvVAE
from .elbo import gaussian_kl, loss_function, reparameterize
from .latent import decode_grid, latent_grid
from .mlp import Autoencoder

__all__ = ["Autoencoder", "ConvVAE", "decode_grid", "gaussian_kl", "latent_grid", "loss_function", "reparameterize"]
