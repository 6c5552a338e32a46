"""A model downloaded from the Train tab (config.json + model.safetensors, nothing else) is one `python app.py
--weights` loads: the app computes its map's codes from the test digits of mnist-subset.safetensors."""
import json
import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from train.mnist import load_subset
from vae_models import Autoencoder, WeightsError

ROOT = Path(__file__).resolve().parents[1]


def downloaded(folder, kind, seed):
    """What the Train tab's "download" gives: config.json as the page writes it, the weights in torch's layout."""
    torch.manual_seed(seed)
    model = Autoencoder(kind)
    folder.mkdir(parents=True)
    config = {"data_size": 784, "hidden_size": 512, "kind": kind, "latent_size": 2}
    (folder / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, folder / "model.safetensors")
    return model


@pytest.mark.parametrize("kind", ["vae", "ae"])
def test_a_downloaded_model_is_loaded_with_its_codes_computed(kind, tmp_path):
    from ui.models import load_models

    weights = tmp_path / "weights"
    other = "ae" if kind == "vae" else "vae"
    shutil.copytree(ROOT / "weights" / f"mnist-{other}", weights / f"mnist-{other}")
    model = downloaded(weights / f"mnist-{kind}", kind, seed=5)
    with pytest.raises(WeightsError, match="needs mnist-subset.safetensors beside it"):
        load_models(weights)  # one sentence saying what to add, not a traceback

    shutil.copy(ROOT / "weights" / "mnist-subset.safetensors", weights / "mnist-subset.safetensors")
    models = load_models(weights)
    x, labels = load_subset(weights / "mnist-subset.safetensors")["test"]
    with torch.no_grad():
        mu = model.eval().encode(x)[0]
    explorer = models.explorers[kind.upper()]
    assert torch.allclose(torch.as_tensor(explorer.mu), mu, atol=1e-5)
    assert (torch.as_tensor(explorer.labels) == labels).all()
    assert not (weights / f"mnist-{kind}" / "test_latents.safetensors").exists()  # nothing written into the folder
