"""From AE to VAE: the beta spectrum. One control across every shipped model, from the AE (no KL term) to the VAE
whose KL term weighs most; for the chosen model its decoded grid, its map, its samples and losses, and the
rate-distortion plane with the model ringed."""
import gradio as gr

from train.figures import spectrum_points
from vae_models import decode_grid

from .explorer import explorer, export
from .explorer import value as explorer_value
from .inputs import choice, handler
from .pictures import draw_map, rate_distortion_plot, to_picture
from .sample import samples_for

def spectrum_text(spectrum):
    """What to look for along the spectrum, with the loaded models' own betas and train-test gaps."""
    vaes = [e for e in spectrum.values() if e.beta is not None]
    text = ("The loss of a beta-VAE is BCE + beta * KL. At beta = 0 nothing pulls the codes to the prior: that is the "
            "AE. Each step right weighs the KL term more. What to look for: the map's arms (the AE, small beta) become a "
            "round cloud that fills N(0, I), so the grid over [-2, 2]^2 and the samples from N(0, I) become digits of "
            "every class; as beta grows the cloud gets tighter (the KL, the rate, falls). On the plot: each VAE's rate R "
            "(KL) and distortion D (BCE), on the test set and on the training set; the grey lines join points of equal "
            "D + R, the negative ELBO. Loaded here: the AE and " +
            ("the VAEs with beta = " + ", ".join(f"{e.beta:g}" for e in vaes) if len(vaes) > 1 else "the VAE") + ".")
    gaps = [(e.beta, float(e.metrics["test_bce"]) - float(e.metrics["train_bce"]))
            for e in vaes if {"test_bce", "train_bce"} <= set(e.metrics)]
    if len(gaps) > 1:
        text += (" The train-test gap in BCE, a measure of overfitting, is " +
                 ", ".join(f"{g:.0f} nats at beta {b:g}" for b, g in gaps) + ".")
    return text


def trained(e):
    """'100 epochs, CPU': how a model was trained, from its training record."""
    device = str(e.training.get("device", ""))
    where = "CPU" if device == "cpu" else "GPU" if device.startswith(("cuda", "NVIDIA")) else device
    return ", ".join(x for x in (f"{e.epochs}" if e.epochs else "", where) if x) or "-"


def metrics_tables(spectrum):
    """Two tables of the loaded models (how each was trained; its test numbers) and the note under them: two of four
    columns each fit a phone's width, where one of seven had to scroll."""
    trained_rows = ["| model | beta | epochs, device | train objective |", "|---|---|---|---|"]
    test_rows = ["| model | test BCE (D) | test KL (R) | test −ELBO (D + R) |", "|---|---|---|---|"]
    for name, e in spectrum.items():
        m = e.metrics
        if not m:
            continue
        bce, kld = float(m["test_bce"]), float(m["test_kld"])
        beta = "-" if e.beta is None else f"{e.beta:g}"
        elbo = f"{bce + kld:.2f}" if e.beta is not None else "-"
        kl = f"{kld:.2f}" if e.beta is not None else "-"
        trained_rows.append(f"| {name} | {beta} | {trained(e)} | {float(m['train_loss']):.2f} |")
        test_rows.append(f"| {name} | {bce:.2f} | {kl} | {elbo} |")
    note = ("Per-image nats after each model's last epoch (test numbers with one sample of z per image). The train "
            "objective is BCE + beta * KL, the running average over the last epoch's mini-batches; a GPU's bf16 "
            "arithmetic gives other weights than a CPU's.")
    return "\n".join(trained_rows), "\n".join(test_rows), note


def create_tab(demo, models, own):
    spectrum, names = models.spectrum, list(models.spectrum)
    points, ae = spectrum_points({n: (e.beta, e.metrics) for n, e in spectrum.items() if e.metrics})
    gr.Markdown(spectrum_text(spectrum))
    pick = gr.Radio(names, value="VAE", label="the model: from the AE (no KL term) to the heaviest KL term",
                    elem_id="spectrum-pick")
    descriptions = {name: export(e) for name, e in spectrum.items()}
    view = explorer(descriptions["VAE"], elem_id="spectrum-explorer")  # the map to hover, decoded in the page
    with gr.Row(visible=False):  # the server's grid and map, for API clients of /spectrum
        grid = gr.Image(format="png", interactive=False, elem_id="spectrum-grid")
        codes = gr.Image(format="png", interactive=False)
    with gr.Row():
        rd = gr.Image(label="rate and distortion", format="png", interactive=False, elem_id="rd-plot")
        samples = gr.Image(label="64 samples, z ~ N(0, I)", format="png",
                           interactive=False)
        curve = gr.Image(label="loss curves", format="png", interactive=False)
    gr.Markdown("The plot: test (filled) and training (hollow) points, the chosen model ringed. The square on the map "
                "is the grid's [-2, 2]^2; the samples use the same z for every model.", elem_classes=["caption"])
    trained_table, test_table, note = metrics_tables(spectrum)
    with gr.Row():  # side by side where they fit, one under the other on a phone
        with gr.Column(min_width=320):
            gr.Markdown(trained_table, elem_id="trained-table")
        with gr.Column(min_width=320):
            gr.Markdown(test_table, elem_id="test-table")
    gr.Markdown(note)

    @handler
    def show_model(name):
        e = spectrum[choice(name, "The model", names)]
        return {rd: rate_distortion_plot(points, ae, e.name) if points else None,
                grid: to_picture(decode_grid(e.model, 20, 2.0), 20), codes: draw_map(e.map, square=2.0),
                samples: samples_for(e.model, 64, 0), curve: e.loss_curve}

    @handler
    def show_explorer(name):
        return {view: explorer_value(descriptions[choice(name, "The model", names)], (0.0, 0.0))}

    outputs = [rd, grid, codes, samples, curve]
    pick.change(show_model, pick, outputs, api_name="spectrum", preprocess=False)
    pick.change(show_explorer, pick, view, api_name=False, preprocess=False)
    demo.load(show_model, pick, outputs, api_name=False, preprocess=False)
