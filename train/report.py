"""python -m train report: every figure of docs/REPORT.md, from the shipped weights, and the evaluation it quotes."""
import shutil
from pathlib import Path

import torch
import torch.nn.functional as F

from . import artifacts, figures
from .figures import save_figure

plt = figures.pyplot()  # this module is imported only by the commands that draw its figures

# copied as they are from each weights folder, prefixed with the model's name
COPIED = ("reconstruction_99.png", "sample_99.png", "manifold_digits.png", "manifold.png")


def plot_both_loss_curves(folders, path):
    """The train and test curves of the AE and the VAE side by side, on one loss scale."""
    fig, axes = plt.subplots(1, len(folders), figsize=(5 * len(folders), 3.6), dpi=100, sharey=True)
    for ax, (name, folder) in zip(axes, folders.items()):
        rows = artifacts.read_metrics(Path(folder) / "perf_metrics.csv")
        epochs = [r["epoch"] for r in rows]
        ax.plot(epochs, [r["train_loss"] for r in rows], label="train")
        ax.plot(epochs, [r["test_loss"] for r in rows], label="test")
        best = min(rows, key=lambda r: r["test_loss"])
        ax.scatter([best["epoch"]], [best["test_loss"]], color="C1", zorder=3, s=12)
        ax.annotate(f"best test {best['test_loss']:.1f} (epoch {best['epoch']})", (best["epoch"], best["test_loss"]),
                    textcoords="offset points", xytext=(5, 12), fontsize=8)
        ax.set(title=f"MNIST {name}", xlabel="epoch")
        ax.grid(alpha=0.3)
        ax.legend()
    axes[0].set_ylabel("loss per image (nats)")
    axes[0].set_ylim(top=170)
    save_figure(fig, path)


def write_report_figures(folders, out_dir, evaluation_lines, measurement_lines=()):
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    plot_both_loss_curves(folders, out_dir / "loss_curves.png")
    for name, folder in folders.items():
        for f in COPIED:
            shutil.copy2(Path(folder) / f, out_dir / f"{name.lower()}_{f}")
    artifacts.write_text(out_dir / "evaluation.txt", "\n".join(evaluation_lines) + "\n")
    if measurement_lines:
        artifacts.write_text(out_dir / "measurements.txt", "\n".join(measurement_lines) + "\n")


@torch.inference_mode()
def measure_claims(folders, data):
    """The numbers behind the report's sentences about the two latent spaces, each computed here, not assumed.

    folders: {"AE": path, "VAE": path}; data: load_mnist's dict. Returns printable lines."""
    from vae_models import Autoencoder, load_pretrained

    (train_x, _), (test_x, test_y) = data["train"], data["test"]
    lines = []
    for name, folder in folders.items():
        model = load_pretrained(Autoencoder, folder)
        for split, x in (("train", train_x), ("test", test_x)):
            bce, entropy = 0.0, 0.0
            for i in range(0, len(x), 2000):
                xb = x[i:i + 2000]
                logits = model.decode_logits(model.encode(xb)[0])
                bce += F.binary_cross_entropy_with_logits(logits, xb, reduction="sum").item()
                p = torch.sigmoid(logits)  # the entropy of the reconstruction's Bernoulli pixels: its blur, in nats
                entropy += F.binary_cross_entropy_with_logits(logits, p, reduction="sum").item()
            lines.append(f"{name} {split}: BCE at z = mu {bce / len(x):.2f} nats per image; entropy of the "
                         f"reconstruction {entropy / len(x):.2f} nats")
        mu = model.encode(test_x)[0]
        inside = (mu.abs() <= 2).all(1).float()
        per_class = ", ".join(f"{d}: {inside[test_y == d].mean().item():.0%}" for d in range(10))
        lines.append(f"{name}: {inside.mean().item():.1%} of the test codes lie in [-2, 2]^2 (by digit: {per_class}); "
                     f"codes span z1 in [{mu[:, 0].min():.1f}, {mu[:, 0].max():.1f}], "
                     f"z2 in [{mu[:, 1].min():.1f}, {mu[:, 1].max():.1f}]")
        d = torch.cdist(mu, mu)
        d.fill_diagonal_(float("inf"))
        votes = test_y[d.topk(10, largest=False).indices]  # leave-one-out 10-nearest neighbours among the test codes
        knn = torch.mode(votes, 1).values
        accuracy = (knn == test_y).float().mean()
        lines.append(f"{name}: 10-nearest-neighbour accuracy of the digit from its test code {accuracy:.1%}")
        rows = artifacts.read_metrics(Path(folder) / "perf_metrics.csv")
        rises = [r["epoch"] for prev, r in zip(rows, rows[1:]) if r["train_loss"] > prev["train_loss"]]
        lines.append(f"{name}: the training loss (running average per epoch) rose at epochs {rises}")
    return lines


@torch.inference_mode()
def posterior_analysis(folder, data, images, out_dir, n_digits=300):
    """Where the importance-sampled log p(x) goes wrong, and why: per-image gaps against the quadrature, by digit,
    and for `n_digits` test images the true posterior's spread against q(z|x)'s (vae_models.posterior).
    images: evaluate_model(..., per_image=True)["images"] for this VAE. Writes vae_posteriors.png and
    vae_gaps.png into out_dir; returns printable lines."""
    from vae_models import Autoencoder, load_pretrained
    from vae_models.posterior import bernoulli_log_joint, true_posterior

    model = load_pretrained(Autoencoder, folder)
    x, y = data["test"]
    quad, is_lp = images["quad_log_px"], images["is_log_px"]
    elbo = -(images["bce"] + images["kld"]).double()
    is_error, gap = quad - is_lp, quad - elbo
    lines = [f"VAE per image: log p(x) by quadrature minus the importance-sampled estimate: mean {is_error.mean():.2f}, "
             f"median {is_error.median():.2f}; {(is_error > 1).float().mean():.1%} of images above 1 nat, "
             f"{(is_error > 10).float().mean():.1%} above 10 nats; the largest 10% of images carry "
             f"{is_error.sort(descending=True).values[:len(x) // 10].sum() / is_error.sum():.0%} of the total",
             "  by digit (mean nats): " + ", ".join(f"{d}: {is_error[y == d].mean():.1f}" for d in range(10)),
             f"VAE per image: log p(x) - ELBO (= KL(q || p(z|x))): mean {gap.mean():.2f}, median {gap.median():.2f}"]
    n_digits = min(n_digits, len(x))
    mu, logvar = model.encode(x[:n_digits])
    sigma = (0.5 * logvar).exp()
    offset, mass_near_q, posts = [], [], []
    for i in range(n_digits):
        post = true_posterior(bernoulli_log_joint(model, x[i:i + 1]), mu[i], sigma[i])
        p = (post["log_post"].exp() * post["area"]).float()
        z = post["z"].float()
        mean = (p[:, None] * z).sum(0)
        offset.append(((mean - mu[i]) / sigma[i]).norm().item())  # in q's standard deviations
        near = (((z - mu[i]) / sigma[i]).pow(2).sum(1) < 9).float()  # within q's 3-sigma ellipse
        mass_near_q.append((p * near).sum().item())
        posts.append(post)
    offset, mass_near_q = torch.tensor(offset), torch.tensor(mass_near_q, dtype=torch.float64).clamp_min(1e-300)
    err = is_error[:n_digits].float()
    far = err > 10
    lines.append(f"first {n_digits} test images: {far.float().mean():.0%} have an importance-sampling error over 10 nats; "
                 f"for them the true posterior's mean lies a median {offset[far].median():.1f} q-standard-deviations "
                 f"from q's mean (the others: {offset[~far].median():.1f}), and q's 3-sigma ellipse holds a median "
                 f"{mass_near_q[far].median():.1e} of the posterior's mass (the others: {mass_near_q[~far].median():.2f}); "
                 f"correlation of the error with -log(that mass): "
                 f"{torch.corrcoef(torch.stack([err.double(), -mass_near_q.double().log()]))[0, 1]:.2f}")
    _plot_posteriors(model, x, y, posts, mu, sigma, quad, elbo, is_error, Path(out_dir) / "vae_posteriors.png")
    fig, ax = plt.subplots(1, 2, figsize=(10, 3.4), dpi=100)
    ax[0].hist(gap.numpy(), bins=80, color="C0")
    ax[0].set(xlabel="log p(x) - ELBO (nats)", ylabel="test images", title="the ELBO's gap, KL(q(z|x) || p(z|x))")
    ax[1].hist(is_error.numpy(), bins=80, color="C1")
    ax[1].set(xlabel="quadrature - importance-sampled (nats)", title="the importance-sampled estimate's error, K = 1000")
    save_figure(fig, Path(out_dir) / "vae_gaps.png")
    return lines


def _plot_posteriors(model, x, y, posts, mu, sigma, quad, elbo, is_error, path):
    """Three test digits: a clear one, an ambiguous 4/9 and a badly drawn one (the lowest log p(x)), each with its
    true posterior (colour) and q(z|x)'s 1- and 2-sigma ellipses."""
    from matplotlib.patches import Ellipse

    n = len(posts)
    gap = (quad[:n] - elbo[:n]).float()
    clear = int(gap.argmin())
    fours_nines = [i for i in range(n) if int(y[i]) in (4, 9)]
    ambiguous = max(fours_nines, key=lambda i: float(is_error[i]))
    bad = int(quad[:n].argmin())
    fig, axes = plt.subplots(2, 3, figsize=(11, 7), dpi=100, gridspec_kw={"height_ratios": [1, 3]})
    for col, (i, title) in enumerate(((clear, "clear"), (ambiguous, "a 4 or 9, ambiguous"), (bad, "badly drawn"))):
        axes[0, col].imshow(x[i].view(28, 28), cmap="gray")
        axes[0, col].set_axis_off()
        axes[0, col].set_title(f"{title}: test image {i}, a {int(y[i])}", fontsize=9)
        post = posts[i]
        side = int(round(len(post["z"]) ** 0.5))
        z = post["z"].view(side, side, 2)
        ax = axes[1, col]
        ax.set_facecolor("black")  # where the grid does not reach, the posterior is (numerically) zero
        ax.pcolormesh(z[..., 0], z[..., 1], post["log_post"].view(side, side).exp(), cmap="magma", shading="auto")
        for k in (1, 2):
            ax.add_patch(Ellipse(mu[i].tolist(), 2 * k * sigma[i, 0].item(), 2 * k * sigma[i, 1].item(), fill=False,
                                 color="white", lw=1.5 / k))
        ax.plot(*mu[i].tolist(), "+", color="cyan", markersize=12, mew=2)  # q's mean, however far it lies
        ax.autoscale_view()
        ax.set(xlabel="$z_1$", ylabel="$z_2$")
        ax.set_title(f"log p(x) {quad[i]:.1f}, ELBO {elbo[i]:.1f}, gap {quad[i] - elbo[i]:.1f};\n"
                     f"importance sampling {is_error[i]:.1f} nats low", fontsize=8)
    save_figure(fig, path)


def _panel(ax, images, nrow, title):
    ax.imshow(figures.make_grid(images.float(), nrow=nrow, padding=1, pad_value=0.5).permute(1, 2, 0).numpy())
    ax.set_title(title, fontsize=10)
    ax.axis("off")


@torch.inference_mode()
def spectrum_figures(weights, data, out_dir, load):
    """The beta spectrum's and the conditional VAE's figures for docs/REPORT.md; -> lines for spectrum.txt.

    rate_distortion.png, beta_maps.png, beta_grids.png, beta_samples.png, beta_reconstructions.png,
    cvae_class_grids.png, cvae_codes.png, cvae_analogies.png. load(folder) -> the model."""
    from safetensors.torch import load_file

    from vae_models import WeightsError, decode_grid

    weights, out_dir = Path(weights), Path(out_dir)
    models, metrics, codes = {}, {}, {}
    found, problems = artifacts.discover_models(weights)
    if problems:
        raise WeightsError(problems[0])
    if not any(f.kind == "cvae" for f in found):
        raise WeightsError(f"{weights} holds no conditional VAE (python -m train --autoencoder_type cvae).")
    for facts in (f for f in found if f.kind != "cvae"):  # the AE, then the VAEs by beta
        models[facts.name] = load(facts.path)
        metrics[facts.name] = (facts.beta, artifacts.read_metrics(facts.path / "perf_metrics.csv")[-1])
        codes[facts.name] = load_file(facts.path / "test_latents.safetensors")
    points, ae = figures.spectrum_points(metrics)
    fig, ax = plt.subplots(figsize=(6.5, 4.8), dpi=110)
    figures.draw_rate_distortion(ax, points, ae)
    ax.set_title("Rate and distortion per image, after 100 epochs", fontsize=10)
    save_figure(fig, out_dir / "rate_distortion.png")

    fig, axes = plt.subplots(2, 3, figsize=(13, 8.4), dpi=90)
    for ax, (name, c) in zip(axes.flat, codes.items()):
        mu, labels = c["mu"].numpy(), c["labels"].numpy()
        points_ = ax.scatter(mu[:, 0], mu[:, 1], c=labels, cmap="tab10", s=1, vmin=-0.5, vmax=9.5, rasterized=True)
        ax.add_patch(plt.Rectangle((-2, -2), 4, 4, fill=False, lw=1.2, color="0.2"))
        inside = ((abs(mu) <= 2).all(1)).mean() * 100
        ax.set_title(f"{name}: {inside:.0f}% in [-2, 2]^2", fontsize=10)
    fig.colorbar(points_, ax=axes, ticks=range(10), label="digit", shrink=0.6)
    save_figure(fig, out_dir / "beta_maps.png", tight=False)  # the shared colour bar keeps its own layout

    test_x, test_y = data["test"]
    prior = torch.Generator().manual_seed(0)  # the same z for every model
    z = next(iter(models.values())).sample_prior(64, prior)
    for figure, draw in (("beta_grids.png", lambda m: (decode_grid(m, 15, 2.0), 15)),
                         ("beta_samples.png", lambda m: (m.decode(z).view(-1, 1, 28, 28), 8))):
        fig, axes = plt.subplots(2, 3, figsize=(13, 9), dpi=90)
        for ax, (name, m) in zip(axes.flat, models.items()):
            _panel(ax, *draw(m), name)
        save_figure(fig, out_dir / figure)
    rows = [test_x[:12].view(-1, 1, 28, 28)]
    rows += [m.decode(m.encode(test_x[:12])[0]).view(-1, 1, 28, 28) for m in models.values()]
    fig, ax = plt.subplots(figsize=(9, 6.4), dpi=100)
    _panel(ax, torch.cat(rows), 12, "rows: 12 test digits; their reconstructions at z = mu by the AE, beta 0.1, 0.5, "
           "1, 2, 4")
    save_figure(fig, out_dir / "beta_reconstructions.png")

    cvae_folder = next(f.path for f in found if f.kind == "cvae")
    cvae = load(cvae_folder)
    figures.save_class_grids([decode_grid(cvae, 10, 2.0, y=k) for k in range(10)], out_dir / "cvae_class_grids.png")
    c = load_file(cvae_folder / "test_latents.safetensors")
    figures.plot_latent_scatter(c["mu"], c["labels"], out_dir / "cvae_codes.png",
                                  "CVAE: test codes z ~ q(z|x, y), coloured by digit")
    firsts = torch.tensor([int((test_y == k).nonzero()[0]) for k in range(10)])
    x = test_x[firsts]
    mu = cvae.encode(x, test_y[firsts])[0]
    analogies = [torch.cat([x[i].view(1, 1, 28, 28), cvae.decode(mu[i].expand(10, 2), torch.arange(10)).view(-1, 1, 28, 28)])
                 for i in range(10)]
    fig, ax = plt.subplots(figsize=(7, 6.6), dpi=100)
    _panel(ax, torch.cat(analogies), 11, "a test digit (left), its z decoded as 0, 1, ..., 9")
    save_figure(fig, out_dir / "cvae_analogies.png")

    lines = ["model | beta | train loss | train BCE | train KL | test loss | test BCE | test KL | test BCE + KL | "
             "test codes in [-2, 2]^2"]
    for name, (beta, m) in metrics.items():
        inside = (codes[name]["mu"].abs() <= 2).all(1).float().mean().item()
        lines.append(f"{name} | {'-' if beta is None else f'{beta:g}'} | {m['train_loss']:.2f} | {m['train_bce']:.2f} | "
                     f"{m['train_kld']:.2f} | {m['test_loss']:.2f} | {m['test_bce']:.2f} | {m['test_kld']:.2f} | "
                     f"{m['test_bce'] + m['test_kld']:.2f} | {inside:.1%}")
    artifacts.write_text(out_dir / "spectrum.txt", "\n".join(lines) + "\n")
    return lines
