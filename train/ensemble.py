"""Many MNIST models trained as one: every (kind, beta, seed) of the beta spectrum at once, so that each number of
the report can be given with its spread over seeds.

Each member is exactly its own single run, `python -m train --autoencoder_type K --beta B --seed S`:
- its weights start where that run's start (torch seeded with S, then the model built);
- its data order is that run's (the trainer's DistributedSampler shuffle, which depends on (S, epoch) only);
- its noise continues that run's random stream: each member has its own generator, set to the state torch's global
  generator has in the single run just after the model is built, and it draws the same tensors in the same order
  (one eps per training step, one per test batch).
The members of one kind share an architecture, so their parameters are stacked (torch.func.stack_module_state) and a
step runs all of them through one vmap'd forward and backward, and one Adam over the stacked tensors: Adam is
elementwise, so that is each member's own Adam. The AE is its own kind (no log-variance head, no noise, no KL):
"beta 0" in --betas stands for it.
"""
import copy
import csv
import json
import math
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file
from torch import nn
from torch.func import functional_call, stack_module_state, vmap
from torch.utils.data import DistributedSampler

from vae_models import Autoencoder, loss_function

from . import artifacts

METRICS = ("train_loss", "train_bce", "train_kld", "test_loss", "test_bce", "test_kld")
COLUMNS = ("member", "kind", "beta", "seed", *artifacts.METRIC_COLUMNS)  # perf_metrics.csv's, and whose row it is


@dataclass(frozen=True)
class Member:
    kind: str  # "ae" or "vae"
    beta: float  # the KL term's weight (1.0 for the AE, which has no KL term)
    seed: int

    @property
    def name(self):
        return f"mnist-{self.kind}" + (f"-beta{self.beta:g}" if self.kind == "vae" and self.beta != 1 else "") + \
            f"-seed{self.seed}"


def members_of(betas, seeds):
    """--betas 0,0.1,1 and seeds [s1, s2] -> every (kind, beta, seed), the AE standing for beta 0."""
    return [Member("ae", 1.0, s) if b == 0 else Member("vae", float(b), s) for b in betas for s in seeds]


class _Step(nn.Module):
    """The single run's forward with the noise given from outside (vmap cannot draw a member's own random stream):
    z = mu + exp(logvar / 2) * eps, as vae_models.elbo.reparameterize computes it."""

    def __init__(self, model):
        super().__init__()
        self.m = model

    def forward(self, x, eps, beta):
        mu, logvar = self.m.encode(x)
        z = mu.unsqueeze(0) if logvar is None else mu + torch.exp(0.5 * logvar) * eps
        return torch.stack(loss_function(self.m.decode_logits(z), x, mu, logvar, beta))


class Group:
    """The members of one kind, stacked: params[name] is (M, *shape); one optimizer over all of them."""

    def __init__(self, members, hidden_size, latent_size, lr, n_mc_samples, device):
        self.members, self.n_mc_samples, self.device = members, n_mc_samples, device
        self.kind = members[0].kind
        models, self.generators = [], []
        for m in members:
            torch.manual_seed(m.seed)  # as run_mnist: seed, then build
            models.append(Autoencoder(m.kind, hidden_size=hidden_size, latent_size=latent_size))
            g = torch.Generator(device)
            g.set_state(torch.get_rng_state() if device == "cpu" else torch.cuda.get_rng_state(device))
            self.generators.append(g)
        self.latent_size = latent_size
        self.step_module = _Step(copy.deepcopy(models[0]).to("meta"))
        params, _ = stack_module_state([_Step(m).to(device) for m in models])
        self.params = params
        self.betas = torch.tensor([m.beta for m in members], device=device)
        # the single run's optimizer: Adam, fused on the CPU and the GPU alike
        self.optimizer = torch.optim.Adam(list(params.values()), lr=lr, fused=True)
        self._loss = vmap(self._member_loss)

    def _member_loss(self, params, x, eps, beta):
        return functional_call(self.step_module, params, (x, eps, beta))

    def noise(self, n):
        """Each member's eps for n images, (M, L, n, latent), from its own stream (none for the AE)."""
        if self.kind == "ae":
            return torch.zeros(len(self.members), 1, n, self.latent_size, device=self.device)
        return torch.stack([torch.randn((self.n_mc_samples, n, self.latent_size), generator=g, device=self.device)
                            for g in self.generators])

    def train_step(self, x):
        """x: (M, B, 784), each member's own batch -> the summed (loss, BCE, KL) per member, (M, 3)."""
        parts = self._loss(self.params, x, self.noise(x.shape[1]), self.betas)
        self.optimizer.zero_grad(set_to_none=True)
        # each member's mean over its batch, as its single run; the sum keeps the members' gradients apart
        (parts[:, 0] / x.shape[1]).sum().backward()
        self.optimizer.step()
        return parts.detach()

    @torch.inference_mode()
    def evaluate(self, test_x, batch_size):
        """Means of (loss, BCE, KL) per member over the test set, (M, 3): the single run's evaluate, batch by batch."""
        sums = torch.zeros(len(self.members), 3, device=self.device)
        for i in range(0, len(test_x), batch_size):
            x = test_x[i:i + batch_size].to(self.device)
            xs = x.expand(len(self.members), *x.shape)
            sums += self._loss(self.params, xs, self.noise(len(x)), self.betas)
        return sums / len(test_x)

    def member_model(self, i):
        """Member i as a plain Autoencoder on the CPU, in eval mode."""
        m = self.members[i]
        model = Autoencoder(m.kind, hidden_size=self.step_module.m.fc1.out_features, latent_size=self.latent_size)
        model.load_state_dict({k.removeprefix("m."): v[i].detach().cpu() for k, v in self.params.items()})
        return model.eval()


def train_ensemble(members, train_x, test_x, out_dir, n_epochs=100, batch_size=128, lr=1e-3, n_mc_samples=1,
                   hidden_size=512, latent_size=2, device="cpu", eval_batch_size=1000, resume=False, log=print):
    """Train every member for n_epochs; write ensemble_metrics.csv (one row per member per epoch, the columns of
    perf_metrics.csv plus kind, beta and seed) and a checkpoint after every epoch, and each member's final weights
    under out_dir/members/<name>/ (config.json + model.safetensors, as save_pretrained writes them). With resume,
    continue from the checkpoint exactly as the uninterrupted run would have gone on.
    train_x, test_x: (N, 784) float in {0, 1}. Returns the rows."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    groups = [Group([m for m in members if m.kind == kind], hidden_size, latent_size, lr, n_mc_samples, device)
              for kind in ("ae", "vae") if any(m.kind == kind for m in members)]
    train_x = train_x.to(device)
    samplers = {m.seed: DistributedSampler(range(len(train_x)), num_replicas=1, rank=0, shuffle=True, seed=m.seed)
                for m in members}
    settings = {"members": [[m.kind, m.beta, m.seed] for m in members], "batch_size": batch_size, "lr": lr,
                "n_mc_samples": n_mc_samples, "hidden_size": hidden_size, "latent_size": latent_size,
                "n_train": len(train_x)}
    ckpt, csv_path = out_dir / "checkpoint.safetensors", out_dir / "ensemble_metrics.csv"
    rows, start = [], 0
    if resume and ckpt.exists():
        last = load_state(ckpt, groups, settings)
        rows = [r for r in read_rows(csv_path) if r["epoch"] <= last]
        start = last + 1
        log(f"Resuming {out_dir} after epoch {last}.")
    for epoch in range(start, n_epochs):
        t0 = time.perf_counter()
        orders = {}
        for seed, sampler in samplers.items():  # the single run's order: it depends on (seed, epoch) only
            sampler.set_epoch(epoch)
            orders[seed] = torch.tensor(list(sampler), device=device)
        for group in groups:
            order = torch.stack([orders[m.seed] for m in group.members])  # (M, N)
            sums = torch.zeros(len(group.members), 3, device=device)
            for i in range(0, order.shape[1], batch_size):
                index = order[:, i:i + batch_size]  # (M, B): index_select is 3x faster than train_x[index]
                sums += group.train_step(train_x.index_select(0, index.flatten()).view(*index.shape, -1))
            train_means = (sums / order.shape[1]).tolist()
            test_means = group.evaluate(test_x, eval_batch_size).tolist()
            for m, tr, te in zip(group.members, train_means, test_means):
                rows.append({"member": m.name, "kind": m.kind, "beta": m.beta, "seed": m.seed, "epoch": epoch,
                             **dict(zip(METRICS, tr[:3] + te[:3])), "lr": lr})
                if not all(math.isfinite(v) for v in tr):
                    raise RuntimeError(f"{m.name}: the training loss became {tr[0]} in epoch {epoch}; stopped.")
        # the rows before the checkpoint, so a checkpoint never lacks its epoch's rows (a run killed between the
        # two writes); a resume keeps only the rows up to its checkpoint's epoch
        artifacts.write_metrics(rows, csv_path, COLUMNS)
        save_state(ckpt, groups, epoch, settings)
        log(f"epoch {epoch:3d}  {len(members)} members  {time.perf_counter() - t0:.2f}s")
    for group in groups:
        for i, m in enumerate(group.members):
            folder = out_dir / "members" / m.name
            if start >= n_epochs and (folder / "model.safetensors").exists():
                continue  # a finished run resumed (to publish its spread): its folder is only read
            group.member_model(i).save_pretrained(folder)
            artifacts.write_json(folder / "training.json", {
                "autoencoder_type": m.kind, "beta": m.beta, "seed": m.seed, "n_epochs": n_epochs,
                "batch_size": batch_size, "lr": lr, "n_mc_samples": n_mc_samples, "device": device,
                "torch": torch.__version__, "trained_as": "a member of python -m train ensemble"})
    return rows


def save_state(path, groups, epoch, settings):
    """Every group's stacked weights, Adam state and the members' random streams, atomically."""
    tensors, meta = {}, {"epoch": str(epoch), "settings": json.dumps(settings)}
    for gi, group in enumerate(groups):
        for k, v in group.params.items():
            tensors[f"{gi}.param.{k}"] = v.detach().cpu().contiguous()
        state = group.optimizer.state_dict()
        for pid, s in state["state"].items():
            for k, v in s.items():
                tensors[f"{gi}.optim.{pid}.{k}"] = torch.as_tensor(v).detach().cpu().contiguous()
        meta[f"{gi}.param_groups"] = json.dumps(state["param_groups"])
        for i, g in enumerate(group.generators):
            tensors[f"{gi}.rng.{i}"] = g.get_state()
    with artifacts.atomic_path(path) as tmp:
        save_file(tensors, tmp, metadata=meta)


class ResumeError(ValueError):
    """A checkpoint that cannot continue this run; one sentence."""


def load_state(path, groups, settings):
    """Put what save_state wrote back into the groups; -> the checkpoint's epoch. Refuses other settings."""
    try:
        tensors = load_file(path)
        with safe_open(path, "pt") as f:
            meta = f.metadata()
        epoch, saved = int(meta["epoch"]), json.loads(meta["settings"])
    except (SafetensorError, OSError, ValueError, KeyError, TypeError) as e:
        raise ResumeError(f"the checkpoint {path} is damaged ({type(e).__name__}); start a new run instead.") from None
    if saved != settings:
        differ = sorted(k for k in settings if saved.get(k) != settings[k])
        raise ResumeError(f"{path.parent} was trained with other settings ({', '.join(differ)}); resume it with the "
                          "same flags, or start a new run with another --exp_name.")
    with torch.no_grad():
        for gi, group in enumerate(groups):
            for k, v in group.params.items():
                v.copy_(tensors[f"{gi}.param.{k}"])
            state = {}
            for k, v in tensors.items():
                if k.startswith(f"{gi}.optim."):
                    _, _, pid, name = k.split(".", 3)
                    state.setdefault(int(pid), {})[name] = v
            group.optimizer.load_state_dict({"state": state,
                                             "param_groups": json.loads(meta[f"{gi}.param_groups"])})
            for i, g in enumerate(group.generators):
                g.set_state(tensors[f"{gi}.rng.{i}"])
    return epoch


def read_rows(path):
    """ensemble_metrics.csv -> rows as train_ensemble made them."""
    with open(path, newline="") as f:
        return [{k: v if k in ("member", "kind") else int(v) if k in ("epoch", "seed") else float(v)
                 for k, v in row.items()} for row in csv.DictReader(f)]


def spread(rows):
    """The last epoch's metrics per (kind, beta) over the seeds: {(kind, beta): {metric: (mean, sd, n)}}, the sample
    standard deviation (n - 1); sd is nan for a single seed."""
    last = max(r["epoch"] for r in rows)
    out = {}
    for r in rows:
        if r["epoch"] == last:
            out.setdefault((r["kind"], r["beta"]), []).append(r)
    table = {}
    for key, group in sorted(out.items()):
        stats = {}
        for metric in METRICS:
            values = torch.tensor([float(r[metric]) for r in group], dtype=torch.float64)
            sd = values.std().item() if len(values) > 1 else float("nan")
            stats[metric] = (values.mean().item(), sd, len(values))
        table[key] = stats
    return table


def format_spread(table):
    """The spread table as text: one line per (kind, beta), mean +- sd over the seeds of each last-epoch metric."""
    lines = [f"{'model':<16}{'seeds':>6}" + "".join(f"{m:>20}" for m in METRICS)]
    for (kind, beta), stats in table.items():
        name = "AE" if kind == "ae" else f"VAE beta {beta:g}"
        n = next(iter(stats.values()))[2]
        lines.append(f"{name:<16}{n:>6}" + "".join(f"{mean:>11.2f} +- {sd:5.2f}" for mean, sd, _ in stats.values()))
    return "\n".join(lines)


def betas_list(text):
    """--betas "0,0.1,1" -> [0.0, 0.1, 1.0] (argparse type): finite, 0 or more, no repeats."""
    try:
        betas = [float(b) for b in text.split(",")]
    except ValueError:
        raise ValueError(f"--betas {text!r} is not a comma-separated list of numbers") from None
    if not betas or any(not math.isfinite(b) or b < 0 for b in betas) or len(set(betas)) != len(betas):
        raise ValueError(f"--betas {text!r}: each beta a finite number, 0 (the AE) or more, none twice")
    return betas


def run(args, train_x, test_x, log=print):
    """python -m train ensemble: check the destination, train, write, print the spread."""
    members = members_of(args.betas, [args.seed + k for k in range(args.seeds)])
    out_dir = Path(args.out_dir) / args.exp_name
    if args.resume and not (out_dir / "checkpoint.safetensors").exists():
        raise FileExistsError(f"{out_dir} holds no ensemble checkpoint to resume.")
    if not args.resume and out_dir.exists() and any(out_dir.iterdir()):
        raise FileExistsError(f"{out_dir} is not empty; pass --resume to continue the ensemble there, or choose "
                              "another --exp_name or --out_dir (an ensemble run never writes into a used folder)")
    log(f"{len(members)} members ({', '.join(sorted({m.name.rsplit('-seed', 1)[0] for m in members}))} x "
        f"{args.seeds} seeds from {args.seed}), {args.n_epochs} epochs; results in {out_dir}")
    started = time.perf_counter()
    rows = train_ensemble(members, train_x, test_x, out_dir, args.n_epochs, args.batch_size, args.lr,
                          args.n_mc_samples, args.hidden_layer_size, args.latent_size, args.device,
                          resume=args.resume, log=log)
    log(format_spread(spread(rows)))
    log(f"Wall time from the data in memory to the members' weights: {time.perf_counter() - started:.1f} s")
    return rows
