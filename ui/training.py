"""Train tab: a small AE or VAE trained live, on the server's CPU, with the trainer's own epoch code
(train.loop.train_epoch and evaluate), while the page shows the latent space forming. The result becomes the
visitor's own model for the rest of the visit (Reconstruct and Sample show it, labelled); nothing is written to disk.

Fair sharing: one training at a time across all visitors (the others wait in gradio's queue and see their place),
each run capped at TIME_CAP seconds; Stop, or closing the browser tab, ends a run within a fraction of a second,
and what was learned up to then is kept.
"""
import copy
import threading
import time
from dataclasses import dataclass

import gradio as gr
import matplotlib.pyplot as plt
from matplotlib.ticker import MaxNLocator
import numpy as np
import torch
from torch.utils.data import DistributedSampler

from train.loop import LoopConfig, evaluate, make_optimizer, train_epoch
from vae_models import Autoencoder, decode_grid

from .inputs import MAX_SEED, InputError, choice, number
from .pictures import png_file, render_map, to_picture

MAX_EPOCHS = 20
TIME_CAP = 120.0  # seconds of training a run may take
CHUNK = 16  # mini-batches between two looks at Stop: a run ends within about 0.2 s of it
BETAS = ["0.1", "0.5", "1", "2", "4"]
_closed = {}  # session hash -> threading.Event, set when that visitor's page is closed


@dataclass
class OwnModel:
    """The visitor's trained model, kept in their session (gr.State) and offered by the other tabs."""
    model: Autoencoder
    name: str


def curves_picture(rows):
    """BCE and KL per epoch, train and test, in two panels."""
    fig, axes = plt.subplots(1, 2, figsize=(7.2, 2.8), dpi=90)
    epochs = [r["epoch"] + 1 for r in rows]
    for ax, part in zip(axes, ("bce", "kld")):
        for split, style in (("train", "-o"), ("test", "--o")):
            ax.plot(epochs, [r[f"{split}_{part}"] for r in rows], style, ms=3, label=split)
        ax.set(xlabel="epoch", title="BCE (reconstruction)" if part == "bce" else "KL(q(z|x) || N(0, I))")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.title.set_fontsize(9)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("nats per image")
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    fig.canvas.draw()
    image = np.asarray(fig.canvas.buffer_rgba())[..., :3].copy()
    plt.close(fig)
    return image


def create_tab(demo, models, own):
    subset = models.subset
    if subset is None:
        gr.Markdown("No training data is loaded on this server (weights/mnist-subset.safetensors, written by "
                    "`python -m train subset`), so this tab cannot train.")
        return
    train_x, _ = subset["train"]
    test_x, test_y = subset["test"]
    gr.Markdown(f"Train your own model here, on this server, with the project's training code, and watch its codes "
                f"spread over the latent space epoch by epoch: the AE's arms, the VAE's round cloud. One training runs "
                f"at a time (others wait in the queue), each for at most {TIME_CAP:.0f} s. The MNIST digits are a "
                f"fixed random {len(train_x):,} of the training set (and {len(test_x):,} test digits for the test "
                f"loss and the map). Your model is then yours for this visit: Reconstruct and Sample show it too.")
    with gr.Row():
        kind = gr.Radio(["VAE", "AE"], value="VAE", label="model", elem_id="train-kind")
        beta = gr.Radio(BETAS, value="1", label="beta, the weight of the KL term (VAE)", elem_id="train-beta")
        seed = gr.Number(value=0, precision=0, label="seed", minimum=0, maximum=MAX_SEED, elem_id="train-seed")
    with gr.Row():
        epochs = gr.Slider(1, MAX_EPOCHS, value=5, step=1, label="epochs", elem_id="train-epochs")
        size = gr.Slider(1000, len(train_x), value=len(train_x), step=1000, label="training digits")
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

    def pictures(model, rows, fixed_z):
        with torch.inference_mode():
            model.eval()
            mu = model.encode(test_x)[0]
            lim = max(2.0, float(np.percentile(mu.abs().numpy(), 95)))  # the AE's codes reach far
            pairs = torch.cat([test_x[:8], model.decode(mu[:8])]).view(-1, 1, 28, 28)
            out = {curves: curves_picture(rows), codes: render_map(mu.numpy(), test_y.numpy(), "codes").image,
                   grid: to_picture(decode_grid(model, 15, round(lim, 1)), nrow=15),
                   recon: to_picture(pairs, nrow=8, zoom=2),
                   samples: to_picture(model.decode(fixed_z).view(-1, 1, 28, 28), nrow=8, zoom=2)}
        return {k: png_file(v) for k, v in out.items()}

    def train_live(kind_, beta_, seed_, epochs_, size_, request: gr.Request):
        try:
            kind_ = choice(kind_, "The model", ["VAE", "AE"])
            b = float(choice(str(beta_), "Beta", BETAS)) if kind_ == "VAE" else 1.0
            seed_ = number(seed_, "The seed", 0, MAX_SEED, True)
            epochs_ = number(epochs_, "The number of epochs", 1, MAX_EPOCHS, True)
            size_ = number(size_, "The number of training digits", 100, len(train_x), True)
        except InputError as e:
            raise gr.Error(str(e)) from None
        session = getattr(request, "session_hash", None)
        closed = _closed[session] = threading.Event()
        try:
            yield from training(kind_, b, seed_, epochs_, size_, closed)
        finally:
            _closed.pop(session, None)

    def training(kind_, b, seed_, epochs_, size_, closed):
        cfg = LoopConfig(out_dir=".", n_epochs=epochs_, seed=seed_, beta=b, quiet=True)
        torch.manual_seed(seed_)
        model = Autoencoder(kind_.lower())
        optimizer = make_optimizer(model, cfg)
        x = train_x[:size_]
        sampler = DistributedSampler(range(size_), num_replicas=1, rank=0, shuffle=True, seed=seed_)
        fixed_z = torch.randn(32, 2, generator=torch.Generator().manual_seed(seed_))
        name = f"your {kind_}" + (f" (beta {b:g})" if kind_ == "VAE" and b != 1 else "")
        rows, started, reason = [], time.monotonic(), None
        for epoch in range(epochs_):
            t0 = time.monotonic()
            sampler.set_epoch(epoch)  # the trainer's shuffle: it depends on (seed, epoch) only
            order = torch.tensor(list(sampler))
            sums = torch.zeros(3)
            for i in range(0, len(order), CHUNK * cfg.batch_size):
                sums += train_epoch(model, optimizer, x, order[i:i + CHUNK * cfg.batch_size], cfg)
                done = min(len(order), i + CHUNK * cfg.batch_size)
                if closed.is_set():
                    return  # the page is gone: nobody to show anything to
                if time.monotonic() - started > TIME_CAP:
                    reason = f"stopped at the {TIME_CAP:.0f}-second limit"
                    break
                # Stop cancels the run at a yield: each one keeps what was learned so far
                yield {status: f"Epoch {epoch + 1} of {epochs_}: {done:,} of {size_:,} digits...",
                       own: OwnModel(copy.deepcopy(model).eval(), f"{name}, {epoch + done / len(order):.1f} epochs")}
            if reason:
                break
            train_means = (sums / len(order)).tolist()
            test_means = evaluate(model, test_x, cfg).tolist()
            rows.append({"epoch": epoch, "train_loss": train_means[0], "train_bce": train_means[1],
                         "train_kld": train_means[2], "test_loss": test_means[0], "test_bce": test_means[1],
                         "test_kld": test_means[2], "seconds": time.monotonic() - t0})
            if not all(np.isfinite(v) for v in rows[-1].values()):
                reason = "stopped: the loss is no longer finite"
                break
            yield {**pictures(model, rows, fixed_z), metrics: rows, own: OwnModel(copy.deepcopy(model).eval(),
                                                                                   f"{name}, {epoch + 1} epochs"),
                   status: (f"Epoch {epoch + 1} of {epochs_} ({rows[-1]['seconds']:.1f} s): train BCE "
                            f"{train_means[1]:.1f} + KL {train_means[2]:.2f}; test BCE {test_means[1]:.1f} + KL "
                            f"{test_means[2]:.2f} nats per image.")}
        last = (f"Done: {name}, {len(rows)} epochs" + (f" ({reason})" if reason else "") +
                ". It is yours for this visit: Reconstruct and Sample show it beside the shipped models.")
        yield {status: last}

    inputs = [kind, beta, seed, epochs, size]
    outputs = [status, curves, codes, grid, recon, samples, metrics, own]
    event = train_btn.click(train_live, inputs, outputs, api_name="train", preprocess=False, concurrency_limit=1,
                            concurrency_id="train")
    # the message after the cancellation, so that no update of the stopped run can come after it
    stop_btn.click(None, None, None, cancels=[event], api_name=False).then(
        lambda: "Stopped; what was learned is kept: Reconstruct and Sample show your model.", None, status,
        api_name=False)

    def page_closed(request: gr.Request):
        event = _closed.get(request.session_hash)  # only a session whose run is going has one
        if event is not None:
            event.set()

    demo.unload(page_closed)
