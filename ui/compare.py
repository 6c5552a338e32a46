"""From AE to VAE: the beta spectrum. One control across every shipped model, from the AE (no KL term) to the VAE
whose KL term weighs most; for the chosen model its decoded grid, its map, its samples and losses, and the
rate-distortion plane with the model ringed."""
import gradio as gr

from train.figures import spectrum_points
from vae_models import decode_grid

from .inputs import choice, handler
from .pictures import draw_map, rate_distortion_plot, to_picture
from .sample import samples_for

SPECTRUM = """The loss of a beta-VAE is BCE + beta * KL. At beta = 0 nothing pulls the codes to the prior: that is the
AE. Each step right weighs the KL term more. What to look for, model by model: the map's arms (AE, small beta) become
a round cloud that fills N(0, I) (beta 1 and more), so the grid over [-2, 2]^2 and the samples from N(0, I) become
digits of every class; with beta 2 and 4 the cloud gets tighter (the KL, the rate, falls) and the 4s get little
room on the grid, squeezed between 9s and 5s. On the plot: each VAE's rate R (KL) and distortion
D (BCE), on the test set and on the training set; the grey lines join points of equal D + R, the negative ELBO. As
beta grows the rate falls and the training distortion rises, as theory says; the test distortion does not follow,
because the smaller the beta, the more the model overfits (its train-test gap in BCE shrinks from 15 nats at
beta 0.1 to 8 at beta 4). The numbers are in the table; the Report tab discusses them."""


def metrics_table(spectrum):
    rows = ["| model | beta | train objective | test BCE (D) | test KL (R) | test −ELBO (D + R) |",
            "|---|---|---|---|---|---|"]
    for name, e in spectrum.items():
        m = e.metrics
        if not m:
            continue
        bce, kld = float(m["test_bce"]), float(m["test_kld"])
        beta = "-" if e.beta is None else f"{e.beta:g}"
        elbo = f"{bce + kld:.2f}" if e.beta is not None else "-"
        kl = f"{kld:.2f}" if e.beta is not None else "-"
        rows.append(f"| {name} | {beta} | {float(m['train_loss']):.2f} | {bce:.2f} | {kl} | {elbo} |")
    return "\n".join(rows) + (
        "\n\nPer-image nats after 100 epochs (test numbers with one sample of z per image). The train objective is "
        "BCE + beta * KL, the running average over the last epoch's mini-batches. The AE and the VAE with beta 1 were "
        "trained on a CPU, the other betas on a GPU (with bf16 arithmetic); the report compares a beta 1 VAE trained "
        "there too.")


def create_tab(demo, models):
    spectrum, names = models.spectrum, list(models.spectrum)
    points, ae = spectrum_points({n: (e.beta, e.metrics) for n, e in spectrum.items() if e.metrics})
    gr.Markdown(SPECTRUM)
    pick = gr.Radio(names, value="VAE", label="the model: from the AE (no KL term) to the heaviest KL term",
                    elem_id="spectrum-pick")
    with gr.Row():
        rd = gr.Image(label="rate and distortion: test (filled) and train (hollow)", format="png", interactive=False, elem_id="rd-plot")
        grid = gr.Image(label="decoded grid over [-2, 2]^2", format="png", interactive=False, elem_id="spectrum-grid")
        codes = gr.Image(label="test-set codes (the square is the grid's [-2, 2]^2)", format="png",
                         interactive=False)
    with gr.Row():
        samples = gr.Image(label="64 samples, z ~ N(0, I) (the same z for every model)", format="png",
                           interactive=False)
        curve = gr.Image(label="loss curves", format="png", interactive=False)
    gr.Markdown(metrics_table(spectrum))

    @handler
    def show_model(name):
        e = spectrum[choice(name, "The model", names)]
        return {rd: rate_distortion_plot(points, ae, e.name) if points else None,
                grid: to_picture(decode_grid(e.model, 20, 2.0), 20), codes: draw_map(e.map, square=2.0),
                samples: samples_for(e.model, 64, 0), curve: e.loss_curve}

    outputs = [rd, grid, codes, samples, curve]
    pick.change(show_model, pick, outputs, api_name="spectrum", preprocess=False)
    demo.load(show_model, pick, outputs, api_name=False, preprocess=False)
