"""What a model is: the MNIST autoencoders, the CelebA convolutional VAE, their loss, the latent grid, safe loading."""
from .conv import ConvVAE
from .elbo import Losses, gaussian_kl, loss_function, reparameterize
from .latent import decode_grid, latent_grid, lerp_path
from .loading import WeightsError, load_pretrained
from .mlp import Autoencoder, ConditionalVAE

__all__ = ["Autoencoder", "ConditionalVAE", "ConvVAE", "Losses", "WeightsError", "decode_grid", "gaussian_kl",
           "latent_grid", "lerp_path", "load_pretrained", "loss_function", "reparameterize"]
