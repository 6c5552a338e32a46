"""AE vs VAE tab: the two models side by side on the same views, with their final losses."""
import gradio as gr

from vae_models import decode_grid

from .pictures import draw_map, to_picture
from .sample import samples_for

COMPARISON = """What to look for: the AE's codes spread far from the origin in long arms, so the grid over [-2, 2]^2
(and every sample from N(0, I)) sees only the few digits near the origin. The KL term packs the VAE's codes into a
round cloud around the origin (about three quarters of them inside [-2, 2]^2), so its grid shows every digit with
smooth transitions and its samples look like digits. Reconstructions are about equally good: on the test set the
VAE's reconstruction at z = mu is slightly better than the AE's, on the training set slightly worse. Both maps mix
4 with 9 and 3, 5 with 8: two dimensions cannot keep ten classes apart, with or without the KL term.
The project's report (docs/REPORT.md in its source) measures all of this."""


def metrics_table(explorers):
    rows = ["| model | epochs | train loss | test loss | test BCE | test KL |", "|---|---|---|---|---|---|"]
    for name, e in explorers.items():
        m = e.metrics
        if not m:
            continue
        rows.append(f"| {name} | {int(m['epoch']) + 1} | {float(m['train_loss']):.2f} | {float(m['test_loss']):.2f} "
                    f"| {float(m['test_bce']):.2f} | {float(m['test_kld']):.2f} |")
    return "\n".join(rows) + (
        "\n\nPer-image losses in nats (the AE's is its BCE; the VAE's, the negative ELBO). The train loss is the "
        "running average over the last epoch's mini-batches, while the weights were still changing; the test loss "
        "is computed after it, and for the VAE with one sample of z per image.")


def create_tab(demo, models):
    explorers = models.explorers
    gr.Markdown(metrics_table(explorers))
    gr.Markdown(COMPARISON)
    views = (("Decoded grid over [-2, 2]^2", lambda e: to_picture(decode_grid(e.model, 20, 2.0), 20)),
             ("Test-set codes (the square is the grid's [-2, 2]^2)", lambda e: draw_map(e.map, square=2.0)),
             ("64 samples, z ~ N(0, I) (the same z for both)", lambda e: samples_for(e.model, 64, 0)),
             ("Loss curves", lambda e: e.loss_curve))
    for title, view in views:
        gr.Markdown(f"### {title}")
        with gr.Row():
            for name, e in explorers.items():
                gr.Image(value=view(e), label=name, format="png", interactive=False)
            if title.startswith("64 samples") and explorers["AE"].density is not None:
                gr.Image(value=samples_for(explorers["AE"].model, 64, 0, explorers["AE"].density),
                         label="AE, z ~ a mixture fitted to its codes", format="png", interactive=False)
