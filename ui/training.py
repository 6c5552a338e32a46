"""Train tab: a small AE or VAE trained live, on the server's CPU, with the trainer's own epoch code
(train.loop.run_epochs), while the page shows the latent space forming. The result becomes the
visitor's own model for the rest of the visit (Reconstruct and Sample show it, labelled); nothing is written to disk.

Fair sharing: one training at a time across all visitors, each run capped at TIME_CAP seconds; Stop, or closing the
browser tab, ends a run within a fraction of a second, and the model as it was at the end of the last finished epoch
is kept. At most MAX_WAITING_RUNS runs wait behind it, and one visitor (by session, and by address) holds at most
RUNS_PER_SESSION and RUNS_PER_ADDRESS of those places; anyone else is told at once to come back later. The waiting is
done here, not in gradio's queue, whose places every endpoint shares: a queue full of training runs would answer
"Queue is full" to every visitor. The visitors' models are kept in one store of at most MAX_OWN_MODELS (the oldest
go first); a visitor's session holds only a ticket to theirs.
"""
import copy
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass

import gradio as gr
import matplotlib.pyplot as plt
from matplotlib.ticker import MaxNLocator
import numpy as np
import torch

from train.loop import LoopConfig, Progress, RunError, make_optimizer, run_epochs
from vae_models import Autoencoder, decode_grid

from .inputs import MAX_SEED, InputError, choice, number
from .pictures import png_file, to_picture

MAX_EPOCHS = 20
EPOCHS = (1, MAX_EPOCHS)  # the range of each control, used by its widget and by its check
TRAIN_DIGITS = (1_000, 10_000)  # at most the subset's size, when it holds fewer
SEEDS = (0, MAX_SEED)
MAX_WAITING_RUNS = 4  # runs waiting behind the one that trains
RUNS_PER_SESSION = 1  # running or waiting
RUNS_PER_ADDRESS = 2
MAX_OWN_MODELS = 32  # visitors' trained models kept, about 4.5 MB each (the model and its optimizer-free copy)
TIME_CAP = 120.0  # seconds of training a run may take
CHUNK = 32  # mini-batches between two looks at Stop: a run ends within about 0.4 s of it
BETAS = ["0.1", "0.5", "1", "2", "4"]
_closed = {}  # session hash -> threading.Event, set when that visitor's page is closed


@dataclass
class OwnModel:
    """The visitor's trained model, offered by the other tabs (kept in _own_models; the session holds a Ticket)."""
    model: Autoencoder
    name: str


@dataclass(frozen=True)
class Ticket:
    """What a visitor's session (gr.State) holds: the key of their model in the store."""
    key: str


class OwnModels:
    """The visitors' trained models, one per session, at most `limit` in all: the least recently trained go first."""

    def __init__(self, limit=MAX_OWN_MODELS):
        self.limit, self.models, self.lock = limit, OrderedDict(), threading.Lock()

    def keep(self, key, own):
        with self.lock:
            self.models.pop(key, None)
            self.models[key] = own
            while len(self.models) > self.limit:
                self.models.popitem(last=False)
        return Ticket(key)

    def get(self, ticket):
        if not isinstance(ticket, Ticket):
            return None
        with self.lock:
            return self.models.get(ticket.key)


_own_models = OwnModels()


def own_model(ticket):
    """A session's State value -> its OwnModel, or None (no run yet, or the store has since let it go)."""
    return _own_models.get(ticket)


class TrainingQueue:
    """The places of the runs that train or wait: at most 1 + MAX_WAITING_RUNS, RUNS_PER_SESSION a session and
    RUNS_PER_ADDRESS an address; `turn` is the one training slot, taken in the order the places were given."""

    def __init__(self):
        self.lock, self.held, self.turn = threading.Lock(), [], threading.Lock()

    def enter(self, session, address):
        """-> a place (to give back with leave), or InputError with the sentence for the visitor."""
        with self.lock:
            if sum(s == session for s, _ in self.held) >= RUNS_PER_SESSION:
                raise InputError("You already have a training run going or waiting; stop it or wait for it to end.")
            if sum(a == address for _, a in self.held) >= RUNS_PER_ADDRESS:
                raise InputError(f"Your address already has {RUNS_PER_ADDRESS} training runs going or waiting; "
                                 "please wait for one to end.")
            if len(self.held) >= 1 + MAX_WAITING_RUNS:
                raise InputError(f"Training is busy ({MAX_WAITING_RUNS} runs are already waiting); please come back "
                                 "in a few minutes.")
            place = (session, address)
            self.held.append(place)
            return place

    def ahead_of(self, place):
        with self.lock:
            return self.held.index(place)

    def leave(self, place):
        with self.lock:
            self.held.remove(place)


_queue = TrainingQueue()


class LivePlots:
    """The run's two figures, made once and redrawn each epoch (a new matplotlib figure per epoch would cost about
    as much as a third of an epoch's training): the loss curves, and the map of the test codes."""

    def __init__(self, labels):
        self.curves_fig, self.curve_axes = plt.subplots(1, 2, figsize=(7.2, 2.8), dpi=90)
        self.lines = {}
        for ax, part in zip(self.curve_axes, ("bce", "kld")):
            for split, style in (("train", "-o"), ("test", "--o")):
                self.lines[split, part], = ax.plot([], [], style, ms=3, label=split)
            ax.set(xlabel="epoch", title="BCE (reconstruction)" if part == "bce" else "KL(q(z|x) || N(0, I))")
            ax.title.set_fontsize(9)
            ax.xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))  # one epoch: one tick, at 1
            ax.grid(alpha=0.3)
        self.curve_axes[0].set_ylabel("nats per image")
        self.curve_axes[0].legend(fontsize=8)
        self.curves_fig.tight_layout()
        self.map_fig, self.map_ax = plt.subplots(figsize=(5.2, 4.6), dpi=90)
        self.points = self.map_ax.scatter(np.zeros(len(labels)), np.zeros(len(labels)), c=labels, cmap="tab10", s=4,
                                          vmin=-0.5, vmax=9.5)
        self.map_fig.colorbar(self.points, ax=self.map_ax, ticks=range(10), label="digit")
        self.map_ax.set(xlabel="$z_1$", ylabel="$z_2$", title="the test codes after epoch 1")  # room for the title
        self.map_fig.tight_layout()

    @staticmethod
    def _picture(fig):
        fig.canvas.draw()
        return np.asarray(fig.canvas.buffer_rgba())[..., :3].copy()

    def curves(self, rows):
        epochs = [r["epoch"] + 1 for r in rows]
        for (split, part), line in self.lines.items():
            line.set_data(epochs, [r[f"{split}_{part}"] for r in rows])
        for ax in self.curve_axes:
            ax.relim()
            ax.autoscale_view()
            ax.set_xlim(0.5, epochs[-1] + 0.5)  # whole epochs only: one point alone would get ticks at 0.95 ... 1.05
        return self._picture(self.curves_fig)

    def codes(self, mu, epoch):
        self.points.set_offsets(mu)
        lo, hi = np.percentile(mu, 0.5, axis=0), np.percentile(mu, 99.5, axis=0)
        pad = 0.08 * (hi - lo) + 0.1
        self.map_ax.set(xlim=(lo[0] - pad[0], hi[0] + pad[0]), ylim=(lo[1] - pad[1], hi[1] + pad[1]),
                        title=f"the test codes after epoch {epoch + 1}")
        return self._picture(self.map_fig)

    def close(self):
        plt.close(self.curves_fig)
        plt.close(self.map_fig)


def epochs_done(n):
    return f"{n} epoch" + ("" if n == 1 else "s")


def stopped(ticket=None):
    """What Stop leaves: the model of the last finished epoch, named, or none (stopped before an epoch ended)."""
    yours = own_model(ticket)
    if yours is None:
        return "Stopped before the first epoch ended: no model was kept. Press Train to start again."
    return f"Stopped; {yours.name} is kept for this visit: Reconstruct and Sample show it."


def create_tab(demo, models, own):
    subset = models.subset
    if subset is None:
        gr.Markdown("No training data is loaded on this server (weights/mnist-subset.safetensors, written by "
                    "`python -m train subset`), so this tab cannot train.")
        return
    train_x, _ = subset["train"]
    test_x, test_y = subset["test"]
    max_digits = min(TRAIN_DIGITS[1], len(train_x))
    gr.Markdown(f"Train your own model here, on this server, with the project's training code, and watch its codes "
                f"spread over the latent space epoch by epoch: the AE's arms, the VAE's round cloud. One training runs "
                f"at a time (up to {MAX_WAITING_RUNS} more wait in line), each for at most {TIME_CAP:.0f} s. The MNIST digits are a "
                f"fixed random {len(train_x):,} of the training set (and {len(test_x):,} test digits for the test "
                f"loss and the map). Your model is then yours for this visit: Reconstruct and Sample show it too.")
    with gr.Row():
        kind = gr.Radio(["VAE", "AE"], value="VAE", label="model", elem_id="train-kind")
        beta = gr.Radio(BETAS, value="1", label="beta, the weight of the KL term (VAE)", elem_id="train-beta")
        seed = gr.Number(value=0, precision=0, label="seed", minimum=SEEDS[0], maximum=SEEDS[1], elem_id="train-seed")
    with gr.Row():
        epochs = gr.Slider(*EPOCHS, value=5, step=1, label="epochs", elem_id="train-epochs")
        size = gr.Slider(TRAIN_DIGITS[0], max_digits, value=max_digits, step=1000, label="training digits")
        train_btn = gr.Button("Train", variant="primary", elem_id="train-btn")
        stop_btn = gr.Button("Stop", variant="stop", elem_id="stop-btn")
    status = gr.Markdown("Press Train.", elem_id="train-status")
    with gr.Row():
        curves = gr.Image(label="loss per epoch", format="png", interactive=False, elem_id="train-curves")
        codes = gr.Image(label="the test digits' codes", format="png", interactive=False, elem_id="train-map")
    with gr.Row():
        grid = gr.Image(label="decoded grid", format="png", interactive=False, elem_id="train-grid")
        recon = gr.Image(label="8 test digits (top) and their reconstructions", format="png", interactive=False)
        samples = gr.Image(label="samples, z ~ N(0, I) (the same z every epoch)", format="png", interactive=False)
    with gr.Accordion("the numbers, per epoch", open=False):
        metrics = gr.JSON(label="metrics", elem_id="train-metrics")

    def pictures(model, rows, fixed_z, plots):
        with torch.inference_mode():
            model.eval()
            mu = model.encode(test_x)[0]
            lim = max(2.0, float(np.percentile(mu.abs().numpy(), 95)))  # the AE's codes reach far
            pairs = torch.cat([test_x[:8], model.decode(mu[:8])]).view(-1, *model.image_shape)
            out = {curves: plots.curves(rows), codes: plots.codes(mu.numpy(), rows[-1]["epoch"]),
                   grid: to_picture(decode_grid(model, 15, round(lim, 1)), nrow=15),
                   recon: to_picture(pairs, nrow=8, zoom=2),
                   samples: to_picture(model.decode(fixed_z).view(-1, *model.image_shape), nrow=8, zoom=2)}
        return {k: png_file(v) for k, v in out.items()}

    def train_live(kind_, beta_, seed_, epochs_, size_, request: gr.Request):
        try:
            kind_ = choice(kind_, "The model", ["VAE", "AE"])
            b = float(choice(str(beta_), "Beta", BETAS)) if kind_ == "VAE" else 1.0
            seed_ = number(seed_, "The seed", *SEEDS, True)
            epochs_ = number(epochs_, "The number of epochs", *EPOCHS, True)
            size_ = number(size_, "The number of training digits", TRAIN_DIGITS[0], max_digits, True)
            session = getattr(request, "session_hash", None) or "no session"
            place = _queue.enter(session, getattr(getattr(request, "client", None), "host", None) or "no address")
        except InputError as e:
            raise gr.Error(str(e), print_exception=False) from None
        closed = _closed[session] = threading.Event()
        try:
            while not _queue.turn.acquire(timeout=1.0):  # one run trains at a time; the others wait here
                if closed.is_set():
                    return
                yield {status: f"Waiting for the run(s) ahead of you to end: you are number {_queue.ahead_of(place)} "
                               "in line."}
            plots = LivePlots(test_y.numpy())
            try:
                for update in training(kind_, b, seed_, epochs_, size_, closed, plots):
                    if own in update:  # the session keeps a ticket; the store keeps (and bounds) the models
                        update[own] = _own_models.keep(session, update[own])
                    yield update
            finally:
                plots.close()
                _queue.turn.release()
        finally:
            _closed.pop(session, None)
            _queue.leave(place)

    def training(kind_, b, seed_, epochs_, size_, closed, plots):
        cfg = LoopConfig(out_dir=".", n_epochs=epochs_, seed=seed_, beta=b, quiet=True)
        torch.manual_seed(seed_)
        model = Autoencoder(kind_.lower())
        optimizer = make_optimizer(model, cfg)
        fixed_z = model.sample_prior(32, torch.Generator().manual_seed(seed_))
        name = f"your {kind_}" + (f" (beta {b:g})" if kind_ == "VAE" and b != 1 else "")
        rows, started, reason = [], time.monotonic(), None

        def stop():  # looked at every CHUNK batches: the page closed, or the time cap reached
            return closed.is_set() or time.monotonic() - started > TIME_CAP

        try:
            for update in run_epochs(model, optimizer, train_x[:size_], test_x, cfg, stop=stop, check_every=CHUNK):
                if isinstance(update, Progress):  # Stop (gradio's cancel) acts at this yield
                    yield {status: f"Epoch {update.epoch + 1} of {epochs_}: {update.seen:,} of {size_:,} digits..."}
                    continue
                row, t0 = update, time.monotonic()
                rows.append(row)
                shown = pictures(model, rows, fixed_z, plots)
                row["seconds"] += time.monotonic() - t0  # the epoch, its test pass and its pictures
                # the visitor's model is a copy made at each epoch's end: Stop keeps the last finished epoch
                yield {**shown, metrics: rows,
                       own: OwnModel(copy.deepcopy(model).eval(), f"{name}, {epochs_done(row['epoch'] + 1)}"),
                       status: (f"Epoch {row['epoch'] + 1} of {epochs_} ({row['seconds']:.1f} s): train BCE "
                                f"{row['train_bce']:.1f} + KL {row['train_kld']:.2f}; test BCE {row['test_bce']:.1f} "
                                f"+ KL {row['test_kld']:.2f} nats per image.")}
        except RunError:
            reason = "stopped: the loss is no longer finite"
        if closed.is_set():
            return  # the page is gone: nobody to show anything to
        if reason is None and len(rows) < epochs_:
            reason = f"stopped at the {TIME_CAP:.0f}-second limit"
        last = (f"Done: {name}, {epochs_done(len(rows))}" + (f" ({reason})" if reason else "") +
                ". It is yours for this visit: Reconstruct and Sample show it beside the shipped models.")
        yield {status: last}

    inputs = [kind, beta, seed, epochs, size]
    outputs = [status, curves, codes, grid, recon, samples, metrics, own]
    # no limit in gradio's queue: train_live refuses or waits at once (TrainingQueue), so no run sits in the queue
    # that every endpoint shares
    event = train_btn.click(train_live, inputs, outputs, api_name="train", preprocess=False, concurrency_limit=None,
                            concurrency_id="train")
    # the message after the cancellation, so that no update of the stopped run can come after it
    stop_btn.click(None, None, None, cancels=[event], api_name=False).then(stopped, own, status, api_name=False)

    def page_closed(request: gr.Request):
        event = _closed.get(request.session_hash)  # only a session whose run is going has one
        if event is not None:
            event.set()

    demo.unload(page_closed)
