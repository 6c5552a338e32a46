"""The page's pictures, checked without a browser: nothing drawn over what a picture shows, whole epochs on the live
curves' axis. (The browser's view of the same page: tests/test_browser.py.)"""
import numpy as np
import pytest
from matplotlib.transforms import Bbox

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


def crowded_spectrum():
    """Five VAEs whose points lie within a few nats of each other and of the AE's line: a harder plane to label."""
    points = {f"vae-{k}": {"beta": beta, "test": (r, d), "train": (r + 0.2, d - 9)}
              for k, (beta, r, d) in enumerate([(0.25, 9.0, 143.2), (0.5, 7.9, 144.0), (1, 7.0, 143.0),
                                                (2, 6.3, 142.6), (4, 5.6, 143.1)])}
    return points, {"test": 143.6, "train": 126.0}


def label_layout(points, ae, chosen, figure):
    """The rate-distortion plane drawn as the app draws it (5.2 x 4.0 in at 100 dpi) or as the report does
    (6.5 x 4.8 in at 110 dpi, its title set afterwards), then drawn: -> (fig, ax, renderer)."""
    import matplotlib.pyplot as plt

    from train.figures import draw_rate_distortion

    fig, ax = plt.subplots(figsize=(5.2, 4.0), dpi=100) if figure == "app" else plt.subplots(figsize=(6.5, 4.8),
                                                                                               dpi=110)
    draw_rate_distortion(ax, points, ae, chosen)
    if figure == "report":
        ax.set_title("Rate and distortion per image, after 100 epochs", fontsize=10)
    fig.tight_layout()
    fig.canvas.draw()
    return fig, ax, fig.canvas.get_renderer()


@pytest.mark.parametrize("figure", ["app", "report"])
@pytest.mark.parametrize("case", ["shipped", "shipped, beta 2 ringed", "shipped, AE ringed", "crowded"])
def test_each_rate_distortion_label_is_nearest_its_own_point_and_clear_of_points_lines_and_labels(
        spectrum_metrics, case, figure):
    import matplotlib.pyplot as plt

    points, ae = crowded_spectrum() if case == "crowded" else spectrum_metrics
    chosen = {"shipped, beta 2 ringed": "mnist-vae-beta2", "shipped, AE ringed": "AE"}.get(case)
    fig, ax, renderer = label_layout(points, ae, chosen, figure)
    try:
        boxes = {t.get_text(): t.get_window_extent(renderer) for t in ax.texts}
        assert len(boxes) == len(points) + 2  # a label for each VAE, "AE (test)" and "AE (train)"
        names = list(boxes)
        for i, a in enumerate(names):  # no text on another
            assert not any(overlap(boxes[a], boxes[b]) for b in names[i + 1:]), a
        frame = ax.get_window_extent(renderer)
        marks = {(n, split): ax.transData.transform(p[split]) for n, p in points.items() for split in ("test", "train")}
        radius = 7 * fig.dpi / 72  # pixels: the red ring around a chosen point (13 points wide, 2.2 thick)
        lines = [line.get_transform().transform_path(line.get_path()) for line in ax.lines
                 if line.get_zorder() >= 1 and line.get_linestyle() not in ("None", "") and len(line.get_xydata()) > 1]
        assert len(lines) == 4  # the test and the training curves, the AE's two lines (not the grey ELBO lines)
        for n, p in points.items():
            text = f"beta {p['beta']:g}"
            box = boxes[text]
            assert frame.x0 <= box.x0 and box.x1 <= frame.x1 and frame.y0 <= box.y0 and box.y1 <= frame.y1, text
            for (x, y) in marks.values():  # on no point, nor on the ring a chosen point has
                assert not overlap(box, Bbox([[x - radius, y - radius], [x + radius, y + radius]])), text
            assert not any(path.intersects_bbox(box, filled=False) for path in lines), text  # on no line
            distance = {k: np.hypot(max(box.x0 - x, 0, x - box.x1), max(box.y0 - y, 0, y - box.y1))
                        for k, (x, y) in marks.items()}
            assert min(distance, key=distance.get) == (n, "test"), text  # its own point is the nearest one
            assert distance[(n, "test")] < 30 * fig.dpi / 72, text  # and near: within 30 points
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
