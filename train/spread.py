"""The spread over training seeds: what an ensemble run publishes for the report.

    python -m train ensemble --betas 0,1 --seeds 5 --exp_name spread --spread_dir docs/figures/spread

From a finished ensemble (its ensemble_metrics.csv and members/<name>/ weights) this writes into --spread_dir:
- members.csv: one row per member and epoch, `model,beta,seed,epoch` and every metric the trainer records; each
  member's last-epoch row also carries the report's final evaluations of that member (EVALUATIONS, below);
- summary.csv: one row per (model, beta) and metric at the last epoch, `model,beta,metric,n,mean,sd,min,max`, sd
  being the sample standard deviation (n - 1) over the seeds;
- loss_band.png: the train and test curves, the mean over the seeds and a band from the lowest to the highest seed;
- table.md: the report's table, mean ± sd (min to max) of every last-epoch number, and the first seed's member (the
  shipped weights' single run) with its rank among the seeds.
The AE has no beta: its `beta` cell is empty.
"""
import csv
import io
import math
from pathlib import Path

import torch
import torch.nn.functional as F

from . import artifacts

METRICS = ("train_loss", "train_bce", "train_kld", "test_loss", "test_bce", "test_kld")
# the report's final-epoch numbers, for every member; empty where they do not apply (an AE has no density)
EVALUATIONS = ("test_log_px_quadrature",  # mean log p(x) over the test set, by quadrature on the 2-D latent
               "test_bce_at_mu",  # the test reconstruction's BCE decoded at the code (q's mean), no sampling
               "test_codes_in_square",  # share of the test codes (mu) inside [-2, 2]^2
               "test_knn10_accuracy",  # the digit recovered by a leave-one-out 10-nearest-neighbour vote among codes
               "prior_samples_recognised",  # share of decoded z ~ N(0, I) a classifier reads as one digit (>= 90%)
               "mixture_samples_recognised")  # the AE's samples from the mixture fitted to its training codes
MEMBER_COLUMNS = ("model", "beta", "seed", "epoch", *METRICS, *EVALUATIONS)
SUMMARY_COLUMNS = ("model", "beta", "metric", "n", "mean", "sd", "min", "max")


def model_name(row):
    return "AE" if row["kind"] == "ae" else "VAE"


def beta_cell(row):
    return "" if row["kind"] == "ae" else f"{float(row['beta']):g}"


@torch.inference_mode()
def evaluate_member(model, data, net, n_samples=10_000, seed=0):
    """One trained member -> its EVALUATIONS (None where one does not apply).
    data: load_mnist's dict; net: train.classifier's classifier, trained once for every member."""
    from vae_models.code_density import fit_code_density, sample_code_density

    from .classifier import read
    from .evaluate import quadrature_log_px

    (train_x, _), (test_x, test_y) = data["train"], data["test"]
    mu = torch.cat([model.encode(test_x[i:i + 2000])[0] for i in range(0, len(test_x), 2000)])
    bce = sum(F.binary_cross_entropy_with_logits(model.decode_logits(mu[i:i + 2000]), test_x[i:i + 2000],
                                                 reduction="sum").item() for i in range(0, len(test_x), 2000))
    votes = []
    for i in range(0, len(mu), 1000):  # leave-one-out: a code is not its own neighbour
        d = torch.cdist(mu[i:i + 1000], mu)
        d[torch.arange(len(d)), torch.arange(i, i + len(d))] = float("inf")
        votes.append(torch.mode(test_y[d.topk(10, largest=False).indices], 1).values)
    g = torch.Generator().manual_seed(seed)
    out = {"test_codes_in_square": (mu.abs() <= 2).all(1).float().mean().item(),
           "test_bce_at_mu": bce / len(test_x),
           "test_knn10_accuracy": (torch.cat(votes) == test_y).float().mean().item(),
           "prior_samples_recognised": read(net, model.decode(torch.randn(n_samples, 2, generator=g)).round())[0],
           "test_log_px_quadrature": None, "mixture_samples_recognised": None}
    if model.is_vae:
        out["test_log_px_quadrature"] = quadrature_log_px(model, test_x)[0].mean().item()
    else:
        codes = torch.cat([model.encode(train_x[i:i + 2000])[0] for i in range(0, len(train_x), 2000)])
        density = fit_code_density(codes, seed=seed)
        out["mixture_samples_recognised"] = read(net, model.decode(sample_code_density(density, n_samples, g)).round())[0]
    return out


def member_rows(rows, evaluations):
    """ensemble rows (train.ensemble.read_rows) and {member name: EVALUATIONS} -> members.csv's rows, in the
    ensemble's order (member, then epoch); the evaluations on each member's last epoch only."""
    last = {}
    for r in rows:
        last[r["member"]] = max(last.get(r["member"], -1), r["epoch"])
    out = []
    for r in sorted(rows, key=lambda r: (r["kind"], float(r["beta"]), r["seed"], r["epoch"])):
        row = {"model": model_name(r), "beta": beta_cell(r), "seed": r["seed"], "epoch": r["epoch"],
               **{m: r[m] for m in METRICS}}
        done = r["epoch"] == last[r["member"]]
        row.update({k: (evaluations.get(r["member"], {}).get(k) if done else None) for k in EVALUATIONS})
        out.append(row)
    return out


def summarise(members):
    """members.csv's rows -> summary.csv's rows: per (model, beta) and metric, over the seeds at the last epoch,
    n, mean, the sample standard deviation (nan for one seed), min and max; metrics with no value are left out."""
    last = max(r["epoch"] for r in members)
    groups = {}
    for r in members:
        if r["epoch"] == last:
            groups.setdefault((r["model"], r["beta"]), []).append(r)
    out = []
    for (model, beta), group in groups.items():
        for metric in (*METRICS, *EVALUATIONS):
            values = [float(r[metric]) for r in group if r[metric] not in (None, "")]
            if not values:
                continue
            n, mean = len(values), math.fsum(values) / len(values)
            sd = math.sqrt(math.fsum((v - mean) ** 2 for v in values) / (n - 1)) if n > 1 else float("nan")
            out.append({"model": model, "beta": beta, "metric": metric, "n": n, "mean": mean, "sd": sd,
                        "min": min(values), "max": max(values)})
    return out


LABELS = {"train_loss": "train loss, the last epoch's running mean (nats)",
          "train_bce": "train BCE, the last epoch's running mean (nats)", "test_loss": "test loss, one z a digit (nats)",
          "test_bce": "test BCE, one z a digit (nats)", "test_kld": "test KL (nats)",
          "test_bce_at_mu": "test BCE decoded at z = mu (nats)",
          "test_log_px_quadrature": "test log p(x) by quadrature (nats)",
          "test_codes_in_square": "test codes in [-2, 2]^2", "test_knn10_accuracy": "10-nearest-neighbour accuracy of the codes",
          "prior_samples_recognised": "z ~ N(0, I) samples recognised", "mixture_samples_recognised":
          "samples from the mixture fitted to the codes, recognised"}
SHARES = ("test_codes_in_square", "test_knn10_accuracy", "prior_samples_recognised", "mixture_samples_recognised")


def report_table(members, shipped_seed):
    """members.csv's rows -> the report's table in Markdown: per metric and model, mean ± sd (min to max) over the
    seeds at the last epoch, and the shipped seed's value with its rank among the seeds (1 = lowest)."""
    last = max(int(r["epoch"]) for r in members)
    final = [r for r in members if int(r["epoch"]) == last]
    models = sorted({(r["model"], r["beta"]) for r in final})
    summary = {(s["model"], s["beta"], s["metric"]): s for s in summarise(members)}
    head = ["last epoch, test set unless said"]
    for model, beta in models:
        name = model + (f" (beta {beta})" if beta not in ("", "1") else "")
        head += [f"{name}: mean ± sd (min to max)", f"{name}: seed {shipped_seed} (rank of n, 1 = lowest)"]
    lines = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    for metric in (*METRICS, *EVALUATIONS):
        if metric == "train_kld" or not any((m, b, metric) in summary for m, b in models):
            continue
        fmt = (lambda v: f"{100 * v:.1f}%") if metric in SHARES else (lambda v: f"{v:.2f}")
        sd_fmt = (lambda v: f"{100 * v:.1f}") if metric in SHARES else (lambda v: f"{v:.2f}")
        cells = [LABELS[metric]]
        for model, beta in models:
            s = summary.get((model, beta, metric))
            if s is None:
                cells += ["-", "-"]
                continue
            values = sorted(float(r[metric]) for r in final if (r["model"], r["beta"]) == (model, beta))
            shipped = [float(r[metric]) for r in final
                       if (r["model"], r["beta"]) == (model, beta) and int(r["seed"]) == shipped_seed]
            cells.append(f"{fmt(float(s['mean']))} ± {sd_fmt(float(s['sd']))} "
                         f"({fmt(float(s['min']))} to {fmt(float(s['max']))})")
            cells.append(f"{fmt(shipped[0])} ({values.index(shipped[0]) + 1} of {len(values)})" if shipped else "-")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def write_csv(rows, columns, path):
    """rows -> a CSV at path, atomically; None is an empty cell, floats as repr (exact)."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, columns, lineterminator="\n")
    writer.writeheader()
    for r in rows:
        writer.writerow({k: "" if r.get(k) is None else r[k] for k in columns})
    artifacts.write_text(path, buffer.getvalue())


def read_csv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def plot_loss_band(members, path):
    """The train and test loss per epoch of each model: the mean over the seeds, and the band from the lowest to the
    highest seed."""
    from .figures import save_figure  # first: it sets matplotlib's file-only backend

    import matplotlib.pyplot as plt

    groups = {}
    for r in members:
        groups.setdefault((r["model"], r["beta"]), {}).setdefault(int(r["epoch"]), []).append(r)
    fig, axes = plt.subplots(1, len(groups), figsize=(5 * len(groups), 3.6), dpi=100, sharey=True, squeeze=False)
    for ax, ((model, beta), epochs) in zip(axes[0], sorted(groups.items())):
        xs = sorted(epochs)
        n = len(epochs[xs[-1]])
        for metric, label, colour in (("train_loss", "train", "C0"), ("test_loss", "test", "C1")):
            values = torch.tensor([[float(r[metric]) for r in epochs[e]] for e in xs], dtype=torch.float64)
            ax.fill_between(xs, values.min(1).values, values.max(1).values, color=colour, alpha=0.3, linewidth=0)
            ax.plot(xs, values.mean(1), color=colour, label=f"{label} (mean; band: min to max over {n} seeds)")
        ax.set(title=f"MNIST {model}" + (f" (beta {beta})" if beta not in ("", "1") else ""), xlabel="epoch")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    axes[0][0].set_ylabel("loss per image (nats)")
    axes[0][0].set_ylim(top=170)
    save_figure(fig, path)


def write_spread(out_dir, rows, data, spread_dir, n_samples=10_000, classifier_epochs=2, seed=0, log=print):
    """The finished ensemble in out_dir (rows: its ensemble_metrics.csv rows) -> members.csv, summary.csv and
    loss_band.png in spread_dir. data: load_mnist's dict (the evaluations need the training and test images)."""
    from vae_models import Autoencoder, load_pretrained

    from .classifier import train_classifier

    spread_dir = Path(spread_dir)
    spread_dir.mkdir(parents=True, exist_ok=True)
    net, accuracy = train_classifier(data, seed, classifier_epochs)
    log(f"classifier for the samples: {accuracy:.2%} on the MNIST test set ({classifier_epochs} epochs, seed {seed})")
    evaluations = {}
    for name in sorted({r["member"] for r in rows}):
        model = load_pretrained(Autoencoder, Path(out_dir) / "members" / name)
        evaluations[name] = evaluate_member(model, data, net, n_samples, seed)
        log(f"{name}: " + ", ".join(f"{k} {v:.4g}" for k, v in evaluations[name].items() if v is not None))
    members = member_rows(rows, evaluations)
    write_csv(members, MEMBER_COLUMNS, spread_dir / "members.csv")
    write_csv(summarise(members), SUMMARY_COLUMNS, spread_dir / "summary.csv")
    plot_loss_band(members, spread_dir / "loss_band.png")
    table = report_table(read_csv(spread_dir / "members.csv"), min(int(r["seed"]) for r in rows))
    artifacts.write_text(spread_dir / "table.md", table)
    log(table)
    log(f"Wrote members.csv, summary.csv, table.md and loss_band.png to {spread_dir}")
