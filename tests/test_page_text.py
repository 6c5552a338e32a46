"""The page says what is loaded: started on a weights folder of a short-trained AE and VAE, no sentence of the page
names an epoch count, a beta or a model that is not there (the shipped weights' 100 epochs, beta 4, a CVAE)."""
import re

import pytest

from train.__main__ import main

pytestmark = pytest.mark.slow  # two short training runs in this process, then the whole page built


def page_texts(demo):
    """Every sentence a visitor can read in the page's components: Markdown, labels, info lines; the Report tab's
    document (about the shipped models, by design) left out."""
    texts = []
    for c in demo.config["components"]:
        props = c.get("props", {})
        for key in ("value", "label", "info", "placeholder"):
            v = props.get(key)
            if isinstance(v, str) and not v.startswith("# VAE Explorer: report"):
                texts.append(v)
    return texts


def test_a_page_of_short_trained_models_names_only_what_is_loaded(mnist_dir, tmp_path, capsys):
    from ui import build_demo, load_models

    weights = tmp_path / "weights"
    for kind, epochs in (("ae", "3"), ("vae", "2")):
        main(["--data_dir", str(mnist_dir), "--out_dir", str(tmp_path / "results"), "--quiet", "--batch_size", "32",
              "--hidden_layer_size", "32", "--autoencoder_type", kind, "--n_epochs", epochs,
              "--weights_dir", str(weights / f"mnist-{kind}")])
    capsys.readouterr()
    models = load_models(weights)
    line = models.start_line()
    assert "AE (3 epochs)" in line and "VAE (2 epochs)" in line and "Conditional VAE" in line and "Train" in line
    texts = page_texts(build_demo(models))
    page = "\n".join(texts)
    assert "3 epochs" in page and "2 epochs" in page  # the intro says how long they were trained
    said_epochs = {int(n) for n in re.findall(r"(\d+) epochs?\b", page)}
    assert said_epochs <= {2, 3}, said_epochs
    said_betas = {float(b) for b in re.findall(r"(?:beta|β)\s*=?\s*(\d+(?:\.\d+)?)", page)}
    assert said_betas <= {0.0, 1.0}, said_betas  # 0 is the AE's, in the definition of the spectrum
    for t in texts:
        for sentence in re.split(r"(?<=[.!?])\s+", t):
            if re.search(r"conditional VAE|CVAE", sentence):
                assert "No conditional VAE is loaded" in t, sentence
