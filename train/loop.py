"""The training loop, written once for every model and data set: MNIST (AE, VAE) and CelebA (ConvVAE).

Data are whole tensors in memory (or memory-mapped), batched by shuffled index: no per-image Python in the loop.
Under torchrun each process takes its share of every epoch through a DistributedSampler; only rank 0 writes files.

Which step runs (step_name): on one CUDA GPU the whole step is replayed as a CUDA graph (CapturedStep); on the CPU
the MNIST AE's and VAE's step runs with its backward written out (train/mlp_step.py, the same bits as autograd's);
any other model, under torchrun, or with fused_step=False (--eager) each step runs through autograd, kernel by kernel.
"""
import math
import time
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.distributed as dist
from safetensors import SafetensorError
from torch.utils.data import DistributedSampler
from tqdm import tqdm

from vae_models import Losses, loss_function

from . import artifacts, figures
from .adam import Adam
from .mlp_step import MLPStep


class RunError(Exception):
    """A training run that cannot go on (a diverged loss, a checkpoint from other settings); one sentence."""


@dataclass
class LoopConfig:
    out_dir: Path
    n_epochs: int = 100
    batch_size: int = 128
    lr: float = 1e-3
    n_mc_samples: int = 1
    beta: float = 1.0  # the weight of the KL term: loss = BCE + beta * KL
    seed: int = 8675309
    device: str = "cpu"
    resume: bool = False
    quiet: bool = False
    eval_batch_size: int = 1000
    fused_step: bool = True  # one CUDA GPU: the step as a CUDA graph (CapturedStep); CPU MLP: MLPStep
    model_settings: dict = field(default_factory=dict)  # what else a resumed run must share: model, data subset

    def run_settings(self):
        """What a checkpoint must have been made with for --resume to continue it exactly."""
        return {"batch_size": self.batch_size, "lr": self.lr, "n_mc_samples": self.n_mc_samples, "seed": self.seed,
                **self.model_settings}


def dist_info():
    """(rank, world_size): (0, 1) unless started by torchrun."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def to_input(batch, device):
    """A batch of stored images -> float model input on the device: uint8 (CelebA cache) becomes [0, 1]."""
    batch = batch.to(device, non_blocking=True)
    if batch.dtype == torch.uint8:
        batch = batch.float().div_(255)
    if batch.dim() == 4 and batch.is_cuda:
        batch = batch.contiguous(memory_format=torch.channels_last)  # what cuDNN's fastest convolutions want
    return batch


def _autocast(device, cache=True):
    # bf16 on CUDA halves the memory traffic of the convolutions; the loss itself is computed in float32. A CUDA
    # graph's capture needs the cast weights recomputed inside the graph (cache off): the values are the same.
    if device.startswith("cuda"):
        return torch.autocast("cuda", dtype=torch.bfloat16, cache_enabled=cache)
    return nullcontext()


def _sum_loss(model, x, y, cfg, cache=True):
    """Losses (loss, bce, kld) summed over the batch x (labels y for a conditional model, else None)."""
    with _autocast(cfg.device, cache):
        logits, mu, logvar = model(x, cfg.n_mc_samples) if y is None else model(x, cfg.n_mc_samples, y)
    return loss_function(logits.float(), x, mu.float(), None if logvar is None else logvar.float(), cfg.beta)


def _labels(y, index, device):
    return None if y is None else y[index].to(device)


@torch.inference_mode()
def evaluate(model, data, cfg, labels=None):
    """Losses (loss, bce, kld) per image over `data` (with its labels for a conditional model), across all processes;
    each a 0-d tensor."""
    rank, world = dist_info()
    model.eval()
    sums = torch.zeros(3, device=cfg.device)
    part = data[rank::world]
    part_y = None if labels is None else labels[rank::world]
    for i in range(0, len(part), cfg.eval_batch_size):
        x = to_input(part[i:i + cfg.eval_batch_size], cfg.device)
        y = _labels(part_y, slice(i, i + cfg.eval_batch_size), cfg.device)
        sums += torch.stack(_sum_loss(model, x, y, cfg))
    count = torch.tensor(float(len(part)), device=cfg.device)
    if world > 1:
        dist.all_reduce(sums)
        dist.all_reduce(count)
    return Losses(*(sums / count))


@torch.inference_mode()
def save_pictures(model, test_x, test_y, fixed_z, out_dir, epoch, device, writer):
    """reconstruction_<epoch>.png: 8 test images (top) over their reconstructions from z = mu (bottom);
    sample_<epoch>.png: 64 decodes of a fixed z ~ N(0, I), the same z every epoch so the pictures can be compared
    (a conditional model's with the labels 0-9 in turn). The pictures are computed now and handed to `writer`
    (a BackgroundWriter) as CPU tensors."""
    model.eval()
    x = to_input(test_x[:8], device)
    conditional = test_y is not None
    y = test_y[:8].to(device) if conditional else None
    mu, _ = model.encode(x, y) if conditional else model.encode(x)
    recon = (model.decode(mu, y) if conditional else model.decode(mu)).float().view(-1, *model.image_shape)
    originals = x.float().view(-1, *model.image_shape)
    pairs = torch.cat([originals, recon]).cpu()
    if conditional:
        samples = model.decode(fixed_z, torch.arange(len(fixed_z), device=device) % model.n_classes)
    else:
        samples = model.decode(fixed_z)
    samples = samples.float().view(-1, *model.image_shape).cpu()
    writer.submit(figures.save_grid, pairs, out_dir / f"reconstruction_{epoch}.png", 8)
    writer.submit(figures.save_grid, samples, out_dir / f"sample_{epoch}.png")


def train_epoch(model, optimizer, train_x, order, cfg, desc="", captured=None, train_y=None):
    """One pass over train_x[order] in mini-batches (with their labels train_y[order] for a conditional model);
    returns the sums of (loss, bce, kld) over the images seen, as one (3,) tensor in Losses' order.

    With `captured` (a CapturedStep) each batch is one replay of the recorded step; otherwise eager steps."""
    rank, _ = dist_info()
    model.train()
    sums = torch.zeros(3, device=cfg.device)
    steps = range(0, len(order), cfg.batch_size)
    bar = tqdm(steps, desc=desc, disable=cfg.quiet or rank != 0, leave=False, unit="batch")
    if captured is not None:
        captured.sums.zero_()
        order = order.to(cfg.device)
    for step, i in enumerate(bar):
        if captured is not None:
            captured(order[i:i + cfg.batch_size])
        else:
            index = order[i:i + cfg.batch_size]
            # index_select takes a third of train_x[index]'s time
            x = to_input(torch.index_select(train_x, 0, index.to(train_x.device)), cfg.device)
            losses = _sum_loss(model, x, _labels(train_y, index, cfg.device), cfg)
            optimizer.zero_grad(set_to_none=True)
            (losses.loss / len(x)).backward()  # the mean over the batch; Adam is insensitive to the scale
            optimizer.step()
            sums += torch.stack(losses).detach()
        if step % 50 == 0 and not bar.disable:  # .item() waits for the GPU: only when someone reads the bar
            running = (captured.sums if captured is not None else sums)[0].item()
            bar.set_postfix(loss=f"{running / min(len(order), i + cfg.batch_size):.2f}")
    return captured.sums.clone() if captured is not None else sums


class CapturedStep:
    """The whole training step (gather the batch by index, forward, loss, backward, Adam) recorded once per batch size
    as a CUDA graph and replayed for every batch: one launch instead of a few hundred small ones, which on a GPU bound
    the step of models this small.

    A replay computes what the eager step computes (tests/test_captured_step.py compares losses and gradients):
    - the batch is gathered from the data set in GPU memory through a static index buffer;
    - the reparameterisation noise comes from torch's CUDA generator, whose offset each replay advances, so it differs
      from step to step and a checkpoint's RNG state continues it exactly;
    - Adam is fused and capturable (its step counters live on the GPU); the gradients are static buffers, zeroed
      inside the graph;
    - capture needs a few warm-up steps first: weights, BatchNorm statistics, Adam's state, the epoch's sums and the
      RNG state are put back afterwards, so capturing changes nothing the run computes.
    On the CPU it runs the same body eagerly after the same warm-up and restore (what the CPU tests check).
    """

    def __init__(self, model, optimizer, train_x, cfg, train_y=None):
        self.model, self.optimizer, self.train_x, self.train_y, self.cfg = model, optimizer, train_x, train_y, cfg
        self.cuda = cfg.device.startswith("cuda")
        self.params = [p for p in model.parameters() if p.requires_grad]
        for p in self.params:
            p.grad = torch.zeros_like(p)  # the static gradients every graph reads and writes
        self.sums = torch.zeros(3, device=cfg.device)
        self.graphs, self.index = {}, {}

    def _body(self, index):
        x = to_input(torch.index_select(self.train_x, 0, index), self.cfg.device)
        y = None if self.train_y is None else torch.index_select(self.train_y, 0, index)
        torch._foreach_zero_([p.grad for p in self.params])
        losses = _sum_loss(self.model, x, y, self.cfg, cache=False)
        (losses.loss / len(x)).backward()
        self.optimizer.step()
        self.sums += torch.stack(losses).detach()

    @torch.no_grad()
    def _state(self):
        model = [t.clone() for t in self.model.state_dict().values()]
        optim = {p: {k: v.clone() for k, v in self.optimizer.state[p].items()} for p in self.params
                 if p in self.optimizer.state}
        rng = torch.cuda.get_rng_state() if self.cuda else torch.get_rng_state()
        return model, optim, self.sums.clone(), rng

    @torch.no_grad()
    def _restore(self, state):
        model, optim, sums, rng = state
        for t, saved in zip(self.model.state_dict().values(), model):
            t.copy_(saved)
        for p in self.params:  # a parameter with no Adam state before the warm-up gets Adam's fresh state: zeros
            for k, v in self.optimizer.state[p].items():
                v.copy_(optim[p][k]) if p in optim else v.zero_()
        self.sums.copy_(sums)
        torch.cuda.set_rng_state(rng) if self.cuda else torch.set_rng_state(rng)

    def _capture(self, n):
        index = torch.arange(n, device=self.cfg.device) % len(self.train_x)
        state = self._state()
        if not self.cuda:
            self._body(index)  # the warm-up, undone below
            self._restore(state)
            return None, index
        side = torch.cuda.Stream()  # warm-up on a side stream, as torch.cuda.graphs asks
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):
            for _ in range(3):
                self._body(index)
        torch.cuda.current_stream().wait_stream(side)
        self._restore(state)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            self._body(index)
        self._restore(state)  # capture records without running; the RNG state goes back to where it was
        return graph, index

    def __call__(self, index):
        """One training step on train_x[index] (index: a long tensor on the data's device)."""
        n = len(index)
        if n not in self.index:  # a full batch, and the epoch's last, smaller one: at most two graphs
            self.graphs[n], self.index[n] = self._capture(n)
        self.index[n].copy_(index)
        if self.graphs[n] is None:
            self._body(self.index[n])
        else:
            self.graphs[n].replay()


def step_name(model, cfg):
    """Which step train() runs for this model: "CUDA-graph" (CapturedStep, one GPU), "written-out" (MLPStep, the
    MNIST AE or VAE on the CPU) or "eager" (autograd, kernel by kernel: torchrun, --eager, any other model)."""
    if dist_info()[1] > 1 or not cfg.fused_step:
        return "eager"
    if cfg.device.startswith("cuda"):
        return "CUDA-graph"
    return "written-out" if MLPStep.handles(model, cfg) else "eager"


def make_step(model, optimizer, train_x, cfg, train_y=None):
    """The step train() runs, for run_epochs(captured=...): a CapturedStep or an MLPStep, or None for autograd's."""
    name = step_name(model, cfg)
    if name == "CUDA-graph":
        return CapturedStep(model, optimizer, train_x, cfg, train_y)
    return MLPStep(model, optimizer, train_x, cfg) if name == "written-out" else None


def make_optimizer(model, cfg):
    """Fused Adam: on a GPU torch.optim's, capturable (the step counters live on the GPU, so a CUDA graph can replay
    it); on the CPU the same kernel without torch.optim's start and per-step Python (train/adam.py)."""
    if cfg.device == "cpu":
        return Adam(model.parameters(), lr=cfg.lr)
    return torch.optim.Adam(model.parameters(), lr=cfg.lr, fused=True, capturable=cfg.device.startswith("cuda"))


@dataclass
class Progress:
    """Where an epoch is, yielded between two chunks of batches by run_epochs(check_every=N)."""
    epoch: int
    seen: int  # images trained on so far in this epoch
    total: int


def run_epochs(model, optimizer, train_x, test_x, cfg, start_epoch=0, train_y=None, test_y=None, captured=None,
               stop=None, check_every=None):
    """The training loop, written once: epochs start_epoch .. cfg.n_epochs - 1 over train_x (labels train_y for a
    conditional model), each followed by the test pass on test_x (skipped when test_x is None). Yields one row per
    finished epoch, a dict read by name: epoch, train_loss, train_bce, train_kld, test_loss, test_bce, test_kld, lr,
    seconds (the epoch and its test pass).

    With check_every = N, the epoch is trained N batches at a time and between two chunks the loop yields a
    Progress (epoch, seen, total), then calls stop() (a callable -> bool); when stop() is true the loop ends there,
    inside the epoch, without a row for it. Without check_every nothing but rows is yielded.
    The sampler's shuffle depends only on (seed, epoch), so a resumed run sees the same batches. A loss that is no
    longer finite raises RunError before the epoch's row is yielded (so a diverged model is never saved)."""
    rank, world = dist_info()
    sampler = DistributedSampler(range(len(train_x)), num_replicas=world, rank=rank, shuffle=True, seed=cfg.seed)
    for epoch in range(start_epoch, cfg.n_epochs):
        t0 = time.perf_counter()
        sampler.set_epoch(epoch)
        order = torch.tensor(list(sampler))
        chunk = len(order) if check_every is None else check_every * cfg.batch_size
        sums = None
        for i in range(0, len(order), max(chunk, 1)):
            part = train_epoch(model, optimizer, train_x, order[i:i + chunk], cfg, f"epoch {epoch}", captured, train_y)
            sums = part if sums is None else sums + part
            if check_every is not None:
                yield Progress(epoch, min(len(order), i + chunk), len(order))
                if stop is not None and stop():
                    return
        count = torch.tensor(float(len(order)), device=cfg.device)
        if world > 1:
            dist.all_reduce(sums)
            dist.all_reduce(count)
        train_means = Losses(*(sums / count).tolist())
        if not torch.isfinite(sums).all():  # stop before a diverged model is checkpointed or exported
            raise RunError(f"the training loss became {train_means.loss} in epoch {epoch} (is --lr {cfg.lr} too "
                           "large?); stopped, and nothing was exported.")
        row = {"epoch": epoch, "train_loss": train_means.loss, "train_bce": train_means.bce,
               "train_kld": train_means.kld}
        if test_x is not None:
            test_means = Losses(*(t.item() for t in evaluate(model, test_x, cfg, test_y)))
            if not all(map(math.isfinite, test_means)):
                raise RunError(f"the test loss became {test_means.loss} in epoch {epoch}; stopped, and nothing was "
                               "exported.")
            row.update(test_loss=test_means.loss, test_bce=test_means.bce, test_kld=test_means.kld)
        row.update(lr=cfg.lr, seconds=time.perf_counter() - t0)
        yield row


def train(model, train_x, test_x, cfg, title="", train_y=None, test_y=None):
    """Train `model` on train_x for cfg.n_epochs (the loop of run_epochs), writing metrics, pictures and a checkpoint
    every epoch.

    train_x, test_x: (N, ...) float tensors in [0, 1] or uint8 images; model(x, L) -> (logits, mu, logvar).
    train_y, test_y: the labels, given only for a conditional model (model(x, L, y)).
    Returns the metric rows (one dict per epoch). The caller seeds torch before building the model.
    """
    rank, world = dist_info()
    out_dir = Path(cfg.out_dir)
    if rank == 0:
        out_dir.mkdir(parents=True, exist_ok=True)
    raw_model = model.to(cfg.device)
    if cfg.device.startswith("cuda"):  # the whole data set sits in GPU memory: no host-to-device copy per batch
        train_x, test_x = train_x.to(cfg.device), test_x.to(cfg.device)
        if train_y is not None:
            train_y, test_y = train_y.to(cfg.device), test_y.to(cfg.device)
    optimizer = make_optimizer(raw_model, cfg)
    ckpt_path, csv_path = out_dir / "checkpoint.safetensors", out_dir / "perf_metrics.csv"

    start_epoch, rows = 0, []
    if cfg.resume and ckpt_path.exists():
        last, extra = _resume(ckpt_path, csv_path, raw_model, optimizer, cfg)
        start_epoch = last + 1
        rows = [r for r in artifacts.read_metrics(csv_path) if r["epoch"] <= last]
        _log(cfg, rank, f"Resuming {out_dir} after epoch {last}.")
    elif cfg.resume:
        _log(cfg, rank, f"No checkpoint in {out_dir}; starting from scratch.")
    if world > 1:
        model = torch.nn.parallel.DistributedDataParallel(raw_model)
    if cfg.device.startswith("cuda"):
        # deterministic convolution algorithms: a resumed run continues an interrupted one exactly, as on the CPU
        torch.backends.cudnn.deterministic = True
    captured = make_step(raw_model, optimizer, train_x, cfg, train_y)

    fixed_z = raw_model.sample_prior(64, generator=torch.Generator().manual_seed(cfg.seed)).to(cfg.device)
    # on a GPU, pictures and checkpoints are written on a thread while the next epoch trains; on the CPU at once
    writer = artifacts.BackgroundWriter(threaded=cfg.device.startswith("cuda"))
    try:
        for row in run_epochs(model, optimizer, train_x, test_x, cfg, start_epoch, train_y, test_y, captured):
            epoch = row["epoch"]
            if rank == 0:
                rows.append(row)
                save_pictures(raw_model, test_x, test_y, fixed_z, out_dir, epoch, cfg.device, writer)
                # the metrics go before the checkpoint, so a checkpoint never lacks its epoch's row (a run killed
                # between the two writes); a resume keeps only the rows up to its checkpoint's epoch
                writer.submit(artifacts.write_metrics, list(rows), csv_path)
                checkpoint = artifacts.checkpoint_tensors(raw_model, optimizer, epoch,
                                                          {"settings": cfg.run_settings()})
                writer.submit(artifacts.write_checkpoint, ckpt_path, *checkpoint)
                _log(cfg, rank, f"epoch {epoch:3d}  train {row['train_loss']:8.3f}  test {row['test_loss']:8.3f}  "
                                f"(BCE {row['test_bce']:.2f}, KL {row['test_kld']:.2f})  {row['seconds']:.2f}s")
            if world > 1:
                writer.wait()  # the checkpoint is complete before anyone moves on
                dist.barrier()
    finally:
        writer.close()

    if rank == 0 and rows:
        figures.plot_loss_curve(rows, out_dir / "loss_curve.png", title)
    return rows


def _resume(ckpt_path, csv_path, model, optimizer, cfg):
    """Load the checkpoint into model and optimizer, refusing one that is damaged or made with other settings."""
    if not csv_path.exists():
        raise RunError(f"{ckpt_path.parent} has a checkpoint but no perf_metrics.csv, so the earlier epochs' metrics "
                       "are lost; start a new run (another --exp_name) instead of resuming.")
    try:
        artifacts.read_metrics(csv_path)
    except (OSError, ValueError) as e:
        raise RunError(f"{e}; it cannot be continued: start a new run (another --exp_name) instead.") from None
    try:
        last, extra = artifacts.load_checkpoint(ckpt_path, model, optimizer)
    except (SafetensorError, OSError, ValueError, KeyError, TypeError, RuntimeError, RecursionError) as e:
        raise RunError(f"the checkpoint {ckpt_path} is damaged or belongs to another model "
                       f"({type(e).__name__}); delete it to start over.") from None
    for group in optimizer.param_groups:  # a checkpoint from the CPU resumes on a GPU, and back
        group["capturable"] = cfg.device.startswith("cuda")
    saved, now = extra.get("settings", {}), cfg.run_settings()
    differ = [f"--{k} {saved[k]} (now {now.get(k)})" for k in sorted(saved) if saved[k] != now.get(k)]
    if differ:
        raise RunError(f"{ckpt_path.parent} was trained with {', '.join(differ)}; resume it with the same settings, "
                       "or start a new run with another --exp_name.")
    return last, extra


def _log(cfg, rank, message):
    if rank == 0:
        tqdm.write(message)  # prints above a running progress bar, or plainly under --quiet
