"""The page's pictures, checked without a browser: nothing drawn over what a picture shows, whole epochs on the live
curves' axis. (The browser's view of the same page: tests/test_browser.py.)"""
import numpy as np
import pytest

from conftest import ROOT


def overlap(a, b):
    return a.overlaps(b)


@pytest.fixture(scope="module")
def spectrum_metrics():
    from train.artifacts import model_facts
    from train.figures import spectrum_points

    folders = [ROOT / "weights" / "mnist-ae", *sorted((ROOT / "weights").glob("mnist-vae*"))]
    import csv

    metrics = {}
    for folder in folders:
        with open(folder / "perf_metrics.csv") as f:
            row = list(csv.DictReader(f))[-1]
        beta = model_facts(folder).beta
        metrics[folder.name] = (beta, row)
    return spectrum_points(metrics)


@pytest.mark.parametrize("chosen", ["mnist-vae", "mnist-vae-beta2", "mnist-ae"])
def test_the_rate_distortion_labels_overlap_neither_each_other_nor_a_point(spectrum_metrics, chosen):
    import matplotlib.pyplot as plt

    from train.figures import draw_rate_distortion

    points, ae = spectrum_metrics
    fig, ax = plt.subplots(figsize=(5.2, 4.0), dpi=100)
    try:
        draw_rate_distortion(ax, points, ae, chosen)
        fig.tight_layout()
        fig.canvas.draw()
        renderer = fig.canvas.get_renderer()
        texts = [t.get_window_extent(renderer) for t in ax.texts]
        assert len(texts) == len(points) + 2  # a label for each VAE, "AE (test)" and "AE (train)"
        for i, a in enumerate(texts):
            assert not any(overlap(a, b) for b in texts[i + 1:])
        for p in points.values():
            for split in ("test", "train"):
                x, y = ax.transData.transform(p[split])
                assert not any(t.contains(x, y) for t in texts)
    finally:
        plt.close(fig)


def test_the_map_says_how_many_codes_lie_outside_above_the_points_not_over_them():
    from ui.pictures import render_map

    rng = np.random.default_rng(0)
    mu = np.concatenate([rng.normal(0, 1, (2000, 2)), [[40.0, 40.0]]])
    m = render_map(mu, rng.integers(0, 10, len(mu)), "AE")
    left, top, right, bottom = m.box
    rows = m.image[: int(top) - 1]  # the picture above the axes' box
    assert (rows < 128).any()  # the title is there, dark on white
    inside = m.image[int(top) + 3: int(bottom) - 3, int(left) + 3: int(right) - 3]
    assert (inside > 0).all()  # and nothing but the points inside (a sanity check of the box)
