"""A density fitted to an autoencoder's codes after training: what lets a plain AE sample.

An AE's codes are not distributed as N(0, I), so decoding z ~ N(0, I) gives mostly blurs. Fitting a density to the
training codes and sampling from it instead is "ex-post density estimation" (Ghosh et al. 2020, "From Variational to
Deterministic Autoencoders"; the second stage of Dai and Wipf 2019's two-stage VAE). Here: a mixture of 10 Gaussians
with full covariances (scikit-learn's GaussianMixture), saved as safetensors beside the weights.
"""
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from .loading import WeightsError

FILE = "code_density.safetensors"


def fit_code_density(codes, n_components=10, seed=0):
    """codes (N, n) -> {"weights" (K,), "means" (K, n), "covariances" (K, n, n)} float32 tensors."""
    from sklearn.mixture import GaussianMixture  # only needed when fitting, at export

    gmm = GaussianMixture(n_components, covariance_type="full", random_state=seed).fit(codes.double().numpy())
    return {"weights": torch.tensor(gmm.weights_, dtype=torch.float32),
            "means": torch.tensor(gmm.means_, dtype=torch.float32),
            "covariances": torch.tensor(gmm.covariances_, dtype=torch.float32)}


def save_code_density(density, folder):
    save_file({k: v.contiguous() for k, v in density.items()}, Path(folder) / FILE)


def load_code_density(folder):
    """-> the saved mixture, or None when the folder has none; WeightsError (one sentence) when it is not a mixture
    of Gaussians that can be sampled: exactly its three tensors, of matching shapes, finite, the weights a
    distribution and each covariance positive definite."""
    path = Path(folder) / FILE
    if not path.exists():
        return None
    density = load_file(path)
    bad = WeightsError(f"{path}: not a mixture of Gaussians (it needs finite weights (K,) summing to 1, means (K, n) "
                       "and positive definite covariances (K, n, n)).")
    if set(density) != {"weights", "means", "covariances"}:
        raise bad
    w, mu, cov = density["weights"], density["means"], density["covariances"]
    if (w.ndim != 1 or mu.ndim != 2 or cov.ndim != 3 or not len(w) == len(mu) == len(cov) or len(w) == 0
            or cov.shape[1:] != (mu.shape[1], mu.shape[1])):
        raise bad
    if not all(t.is_floating_point() and torch.isfinite(t).all() for t in (w, mu, cov)):
        raise bad
    if (w < 0).any() or abs(float(w.double().sum()) - 1) > 1e-3:
        raise bad
    if torch.linalg.cholesky_ex(cov.double()).info.any():
        raise bad
    return {"weights": w.float(), "means": mu.float(), "covariances": cov.float()}


def sample_code_density(density, n, generator=None):
    """n draws z ~ sum_k w_k N(mu_k, Sigma_k): (n, dim)."""
    component = torch.multinomial(density["weights"], n, replacement=True, generator=generator)
    eps = torch.randn(n, density["means"].shape[1], generator=generator)
    chol = torch.linalg.cholesky(density["covariances"].double()).float()
    return density["means"][component] + (chol[component] @ eps.unsqueeze(-1)).squeeze(-1)
