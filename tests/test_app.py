"""The app's API through gradio_client against the launched app, bad inputs included, and its pure functions."""
import os
import socket
import subprocess
import sys
import time

import numpy as np
import torch
import pytest
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError
from PIL import Image

from vae_models import ConvVAE
from ui.faces import face_interpolate, face_reconstruct, face_samples
from ui.preprocess import preprocess_digit
from ui.reconstruct import encode_digit
from conftest import ROOT

EXAMPLES = sorted((ROOT / "weights" / "mnist-vae" / "examples").glob("digit_*.png"))


@pytest.fixture(scope="module")
def client(served_app):
    return Client(served_app[1], verbose=False)


@pytest.fixture(scope="module")
def untrained(untrained_app):
    """A client of the app of small untrained models: for what does not depend on the shipped weights (reading
    uploads, the outputs' shapes, seeds, bad input), at a fraction of the trained models' cost per request."""
    return Client(untrained_app[1], verbose=False)


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    """The same digit in every form a user may upload, and some things that are not digits at all."""
    d = tmp_path_factory.mktemp("uploads")
    a = np.asarray(Image.open(EXAMPLES[7]).convert("L"))
    big = np.kron(a, np.ones((8, 8), np.uint8))  # 224x224
    rgba = np.zeros((*big.shape, 4), np.uint8)
    rgba[..., 3] = big
    forms = {"white_on_black.png": Image.fromarray(big), "black_on_white.jpg": Image.fromarray(255 - big),
             "palette.png": Image.fromarray(255 - big).convert("P"), "sixteen_bit.png": Image.fromarray(big.astype(np.uint16) * 257),
             "rgba.png": Image.fromarray(rgba), "greyscale.png": Image.fromarray(big, "L"),
             "one_pixel.png": Image.new("L", (1, 1), 255), "blank.png": Image.new("RGB", (64, 64), "white"),
             "huge.png": Image.new("L", (10_000, 10_000)), "strip.png": Image.new("L", (40_000, 8))}
    for name, image in forms.items():
        image.save(d / name)
    (d / "not_an_image.png").write_text("hello, I am text")
    return d


def test_every_form_of_the_same_digit_is_reconstructed_alike(untrained, images):
    seen = {}
    for name in ["white_on_black.png", "black_on_white.jpg", "palette.png", "sixteen_bit.png", "rgba.png",
                 "greyscale.png"]:
        result = untrained.predict(handle_file(str(images / name)), api_name="/reconstruct_upload")
        model_input, ae, vae, table, ae_map, vae_map, vae_draws, posterior, every, posterior_note, _ = result
        assert "−ELBO = BCE + KL" in table and "| AE |" in table and "(quadrature)" in posterior_note
        assert Image.open(posterior).size == (240, 240)
        assert Image.open(vae_draws).size == ((8 * 30 + 2) * 2, 32 * 2)
        seen[name] = np.asarray(Image.open(model_input).convert("L"))
        for picture in (ae, vae, ae_map, vae_map):
            assert Image.open(picture).size[0] > 100
    reference = seen.pop("white_on_black.png")
    assert set(np.unique(reference)) == {0, 255} and reference.shape == (168, 168)
    for name, picture in seen.items():
        assert (picture != reference).mean() < 0.02, name


@pytest.mark.parametrize("name, message", [("not_an_image.png", "not an image|cannot identify image"),
                                           ("one_pixel.png", "1x1 pixels, too small"),
                                           ("blank.png", "No digit found"),
                                           ("huge.png", "10000x10000 pixels; please upload one of at most"),
                                           ("strip.png", "40000x8 pixels, too long and thin")])
def test_bad_uploads_get_a_clear_message(untrained, images, name, message):
    with pytest.raises(AppError, match=message):
        untrained.predict(handle_file(str(images / name)), api_name="/reconstruct_upload")


def test_a_drawing_on_the_sketchpad_is_reconstructed(untrained, images, tmp_path):
    canvas = np.full((280, 280, 4), 255, np.uint8)
    canvas[60:220, 130:150, :3] = 0  # a black vertical stroke: a "1"
    Image.fromarray(canvas).save(tmp_path / "drawing.png")
    sketch = {"background": None, "layers": [], "composite": handle_file(str(tmp_path / "drawing.png"))}
    model_input, _, _, table, *_ = untrained.predict(sketch, api_name="/reconstruct_drawing")
    x = np.asarray(Image.open(model_input).convert("L")) > 127
    assert 0.02 < x.mean() < 0.2 and "VAE" in table
    # a cleared canvas (no composite, or a blank one) quietly resets the outputs: no error
    empty = {"background": None, "layers": [], "composite": None}
    model_input, ae, vae, table, ae_map, vae_map, draws, posterior, every, *_ = untrained.predict(empty,
                                                                                         api_name="/reconstruct_drawing")
    assert model_input is None and ae is None and draws is None and posterior is None and every is None
    assert "Draw a digit" in table
    Image.fromarray(np.full((280, 280, 4), 255, np.uint8)).save(tmp_path / "white.png")
    blank = untrained.predict({**empty, "composite": handle_file(str(tmp_path / "white.png"))},
                           api_name="/reconstruct_drawing")
    assert blank[0] is None and "Draw a digit" in blank[3]


def test_the_ae_samples_from_its_code_mixture_as_well(untrained):
    vae, ae_prior, ae_mixture, yours, _ = untrained.predict(16, 3, api_name="/sample")
    assert yours is None  # this visitor has trained no model
    pictures = [np.asarray(Image.open(p)) for p in (vae, ae_prior, ae_mixture)]
    assert all(p.shape == pictures[0].shape for p in pictures) and not np.array_equal(pictures[1], pictures[2])


def test_samples_depend_on_the_seed_only(untrained):
    a = untrained.predict(16, 3, api_name="/sample")
    b = untrained.predict(16, 3, api_name="/sample")
    c = untrained.predict(16, 4, api_name="/sample")
    pixels = [np.asarray(Image.open(p[0])) for p in (a, b, c)]
    assert np.array_equal(pixels[0], pixels[1]) and not np.array_equal(pixels[0], pixels[2])
    with pytest.raises(AppError, match="number of samples must be a whole number from 1 to 400"):
        untrained.predict(0, 3, api_name="/sample")


def test_latent_grid_decode_point_and_interpolation(untrained):
    grid, grid_map = untrained.predict("VAE", 5, 2.0, api_name="/latent_grid")
    assert Image.open(grid).size == (5 * 30 + 2, 5 * 30 + 2)  # 28 px digits with 2 px padding
    digit, point_map = untrained.predict("AE", 0.5, -1.0, api_name="/decode_point")
    assert Image.open(digit).size == (168, 168)
    strip, path_map = untrained.predict("VAE", handle_file(str(EXAMPLES[3])), handle_file(str(EXAMPLES[8])), 6,
                                     api_name="/interpolate")
    assert Image.open(strip).size[0] == (8 * 30 + 2) * 3  # the two inputs at the ends, 6 decodes between
    with pytest.raises(AppError, match="model must be one of AE, VAE"):
        untrained.predict("GAN", 0, 0, api_name="/decode_point")
    with pytest.raises(AppError, match="grid size must be a whole number from 2 to 40"):
        untrained.predict("VAE", 500, 2.0, api_name="/latent_grid")


@pytest.mark.slow  # many clients at once, or a long run: CI runs it
def test_identical_answers_to_concurrent_clients_arrive_whole(served_app):
    """Eight clients asking for the same picture at once each get all of it (see app.png_file)."""
    from concurrent.futures import ThreadPoolExecutor

    def ask(_):
        client = Client(served_app[1], verbose=False)
        return [np.asarray(Image.open(client.predict("VAE", 0.3, 0.3, api_name="/decode_point")[1]))
                for _ in range(5)]

    with ThreadPoolExecutor(8) as pool:
        maps = [m for ms in pool.map(ask, range(8)) for m in ms]
    assert all(np.array_equal(m, maps[0]) for m in maps)


def test_map_pixels_and_latents_are_inverse(served_app):
    m = served_app[0].explorers["VAE"].map
    for z in [(0.0, 0.0), (1.5, -2.0), (-2.2, 2.1)]:
        assert np.allclose(m.to_latent(*m.to_pixel(*z)), z, atol=1e-5)
    # the scatter's own axes: the point (0, 0) lies inside the picture's axes box
    left, top, right, bottom = m.box
    x, y = m.to_pixel(0, 0)
    assert left < x < right and top < y < bottom


def test_an_example_lands_on_its_own_test_set_code(served_app):
    """Each example is the first test image of its digit; through the app's preprocessing and encoder it must land
    exactly where the trainer put that image on the map."""
    for name, explorer in served_app[0].explorers.items():
        for path in EXAMPLES:
            index = int(np.argmax(explorer.labels == int(path.stem[-1])))
            mu = encode_digit(explorer.model, preprocess_digit(Image.open(path)))[0].numpy()
            assert np.allclose(mu, explorer.mu[index], atol=1e-4), (name, path.stem)


def test_faces_functions_with_a_conv_vae(tmp_path):
    model = ConvVAE(latent_size=8).eval()
    face = Image.new("RGB", (178, 218), (200, 150, 120))
    assert face_samples(model, 4, 0).shape == (2 + 66, 2 + 4 * 66, 3)
    seen, recon = face_reconstruct(model, face)
    assert seen.shape == recon.shape == (3 * 64, 3 * 64, 3)  # one image: make_grid adds no padding
    assert face_interpolate(model, face, face, 3).shape[1] == 2 + 3 * 66


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow  # a second app, in its own process
def test_the_faces_tab_serves_the_conv_vae_named_by_the_setting(tmp_path):
    """`VAE_EXPLORER_CELEBA` points the app at a ConvVAE folder; its three face endpoints then answer. (The weights
    here are untrained, made by this test; no face weights are shipped.)"""
    ConvVAE(latent_size=8).eval().save_pretrained(tmp_path / "faces")
    Image.new("RGB", (178, 218), (200, 150, 120)).save(tmp_path / "face.jpg")
    port = free_port()
    env = {**os.environ, "VAE_EXPLORER_CELEBA": str(tmp_path / "faces")}
    server = subprocess.Popen([sys.executable, "app.py", "--port", str(port)], cwd=ROOT, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 120
        while True:
            try:
                client = Client(f"http://127.0.0.1:{port}/", verbose=False)
                break
            except Exception:
                assert server.poll() is None and time.time() < deadline, "the app did not start"
                time.sleep(0.5)
        assert Image.open(client.predict(4, 0, api_name="/face_samples")).size == (4 * 66 + 2, 66 + 2)
        seen, recon = client.predict(handle_file(str(tmp_path / "face.jpg")), api_name="/face_reconstruct")
        assert Image.open(seen).size == Image.open(recon).size == (192, 192)
        face = handle_file(str(tmp_path / "face.jpg"))
        assert Image.open(client.predict(face, face, 3, api_name="/face_interpolate")).size[0] == 3 * 66 + 2
        with pytest.raises(AppError, match="not an image"):
            (tmp_path / "notes.txt").write_text("text")
            client.predict(handle_file(str(tmp_path / "notes.txt")), api_name="/face_reconstruct")
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_the_app_without_face_weights_says_so_in_one_sentence_without_a_path(served_app):
    models = served_app[0]
    assert models.faces is None and "/" not in models.faces_note and "python" not in models.faces_note
    html = __import__("urllib.request").request.urlopen(served_app[1] + "config").read().decode()
    assert "No face model is loaded on this server" in html and str(ROOT) not in html


def test_the_true_posterior_view_matches_the_quadrature_and_bounds_the_elbo(served_app):
    """For the example digits: the view's log p(x) agrees with the shared-grid quadrature of `evaluate`, and is at
    least the ELBO (up to the ELBO's own Monte Carlo noise)."""
    from ui.reconstruct import digit_report
    from vae_models.posterior import bernoulli_log_joint, log_px_on_grid

    explorers = served_app[0].explorers
    vae = explorers["VAE"].model
    xs = [preprocess_digit(Image.open(path)) for path in EXAMPLES[:4]]
    # evaluate's 480 x 480 grid over [-6, 6]^2 where these posteriors have their mass (the same cells: its part over
    # [-4, 4]^2), one decoder pass for the four
    references, edge = log_px_on_grid(bernoulli_log_joint(vae, torch.as_tensor(np.stack(xs)).view(4, 784)), n=320,
                                      lim=4.0)
    assert (edge < -20).all()  # nothing left outside
    for path, x, reference in zip(EXAMPLES[:4], xs, references):
        report = digit_report(explorers, x)["VAE"]
        assert abs(report["log_px"] - reference.item()) < 0.05, path.stem
        assert report["log_px"] >= -(report["bce"] + report["kld"]) - 0.5
        assert report["posterior"].shape == (240, 240, 3)


def test_a_photo_of_paper_is_read_as_one_and_the_page_says_so(untrained, tmp_path):
    from test_photos import DIGITS, degrade

    degrade("shadow", DIGITS[3], np.random.default_rng(0)).save(tmp_path / "photo.png")
    table = untrained.predict(handle_file(str(tmp_path / "photo.png")), api_name="/reconstruct_upload")[3]
    assert "read as a photo of paper" in table
    table = untrained.predict(handle_file(str(EXAMPLES[3])), api_name="/reconstruct_upload")[3]
    assert "read as a photo" not in table


def test_every_shipped_model_is_loaded_in_beta_order(served_app):
    models = served_app[0]
    assert list(models.spectrum) == ["AE", "VAE beta=0.1", "VAE beta=0.5", "VAE", "VAE beta=2", "VAE beta=4"]
    assert [e.beta for e in models.spectrum.values()] == [None, 0.1, 0.5, 1.0, 2.0, 4.0]
    assert models.conditional is not None and models.conditional.model.n_classes == 10


def test_the_spectrum_shows_each_model_and_refuses_others(client):
    pictures = {}
    for name in ("AE", "VAE beta=0.1", "VAE beta=4"):
        rd, grid, codes, samples, curve = client.predict(name, api_name="/spectrum")
        pictures[name] = np.asarray(Image.open(grid))
        assert all(os.path.exists(p) for p in (rd, codes, samples, curve))
    assert not np.array_equal(pictures["AE"], pictures["VAE beta=4"])
    with pytest.raises(AppError, match="The model must be one of AE, VAE beta=0.1"):
        client.predict("VAE beta=3", api_name="/spectrum")


def test_the_latent_tab_offers_every_model(client):
    digit, _ = client.predict("VAE beta=2", 0.5, -0.5, api_name="/decode_point")
    assert np.asarray(Image.open(digit)).std() > 10  # a decoded digit, not a blank


def test_the_reconstruction_by_every_model_is_shown_in_one_row(client):
    outputs = client.predict(handle_file(str(EXAMPLES[2])), api_name="/reconstruct_upload")
    strip = np.asarray(Image.open(outputs[8]))
    assert strip.shape[1] == 7 * strip.shape[0]  # the input and six models side by side, each in a square cell


def test_the_cvae_samples_the_digit_asked_for_and_refuses_others(client):
    a = np.asarray(Image.open(client.predict("3", 16, 0, api_name="/cvae_sample")))
    b = np.asarray(Image.open(client.predict("8", 16, 0, api_name="/cvae_sample")))
    assert a.shape == b.shape and not np.array_equal(a, b)
    for args, message in ((("12", 16, 0), "The digit must be one of 0, 1"), (("3", 0, 0), "The number of samples"),
                          (("3", 16, "x"), "The seed must be")):
        with pytest.raises(AppError, match=message):
            client.predict(*args, api_name="/cvae_sample")
    grid = client.predict("5", api_name="/cvae_style_grid")
    assert np.asarray(Image.open(grid)).shape[0] > 15 * 28


def test_the_cvae_reads_and_restyles_the_example_digits(client):
    """Each example is an MNIST test digit: the CVAE must read most of them right, and restyle each as ten digits."""
    right = 0
    for path in EXAMPLES:
        guess, strip, note = client.predict(handle_file(str(path)), api_name="/cvae_restyle_upload")
        right += guess["label"] == path.stem[-1]
        confidences = [c["confidence"] for c in guess["confidences"]]
        assert confidences == sorted(confidences, reverse=True) and 0 < confidences[0] <= 1
        picture = np.asarray(Image.open(strip))
        assert picture.shape[1] > 10 * picture.shape[0]  # the input and ten digits
        assert "Read as a" in note
    assert right >= 8
    with pytest.raises(AppError, match="Upload an image"):
        client.predict(None, api_name="/cvae_restyle_upload")


@pytest.mark.parametrize("n, nrow, channels", [(64, 8, 1), (10, 4, 1), (7, 3, 3), (16, None, 3)])
def test_the_apps_image_grid_is_torchvisions_make_grid(n, nrow, channels):
    from torchvision.utils import make_grid

    from ui.pictures import to_picture

    x = torch.rand(n, channels, 28, 28)
    expected = make_grid(x, nrow=nrow or int(np.ceil(np.sqrt(n))), padding=2, pad_value=0.5)
    assert np.array_equal(to_picture(x, nrow), (expected.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8))


def test_the_cvae_reads_a_drawn_one_and_a_cleared_canvas_quietly(client, tmp_path):
    canvas = np.full((280, 280, 4), 255, np.uint8)
    canvas[60:220, 130:150, :3] = 0  # a black vertical stroke: a "1"
    Image.fromarray(canvas).save(tmp_path / "one.png")
    sketch = {"background": None, "layers": [], "composite": handle_file(str(tmp_path / "one.png"))}
    guess, strip, note = client.predict(sketch, api_name="/cvae_restyle_drawing")
    assert guess["label"] == "1" and "Read as a 1" in note and strip is not None
    empty = {"background": None, "layers": [], "composite": None}
    guess, strip, note = client.predict(empty, api_name="/cvae_restyle_drawing")
    assert strip is None and "Draw a digit" in note
