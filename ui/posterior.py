"""The VAE's true posterior p(z|x) for one input, drawn under the encoder's q(z|x): the ELBO's gap made visible."""
import matplotlib
import numpy as np
import torch
from PIL import Image, ImageDraw

from vae_models.posterior import QUICK, bernoulli_log_joint, true_posterior

SIDE = 240  # pixels of the square view
LUT = (matplotlib.colormaps["magma"](np.linspace(0, 1, 256))[:, :3] * 255).astype(np.uint8)


@torch.inference_mode()
def posterior_view(explorer, x, mu, sigma):
    """x (784,) in {0, 1}; q's mu, sigma (2,) -> (picture (SIDE, SIDE, 3) uint8, log p(x), window (lo, hi)).

    The window is the box where p(z|x) has mass (vae_models.posterior.true_posterior); colour is p(z|x) relative
    to its peak; white ellipses are q(z|x)'s 1- and 2-sigma contours, the cross its mean."""
    xt = torch.as_tensor(x).view(1, -1)  # a batch of one image
    scan = (explorer.scan.z, explorer.scan.log_joint(xt)[0]) if explorer.scan is not None else None
    post = true_posterior(bernoulli_log_joint(explorer.model, xt, torch.float32), mu, sigma, scan=scan, **QUICK)
    lo, hi = (v.numpy() for v in post["box"])
    side = post["n"]
    density = post["log_post"].reshape(side, side).numpy()[::-1]  # rows: z2 from high to low
    density = np.exp(density - density.max())
    picture = Image.fromarray(LUT[(density * 255).round().astype(int)]).resize((SIDE, SIDE), Image.Resampling.BILINEAR)
    draw = ImageDraw.Draw(picture)

    def pixel(z1, z2):
        return (z1 - lo[0]) / (hi[0] - lo[0]) * SIDE, (hi[1] - z2) / (hi[1] - lo[1]) * SIDE

    m, s = mu.tolist(), sigma.tolist()
    for k, width in ((1, 2), (2, 1)):
        (x0, y0), (x1, y1) = pixel(m[0] - k * s[0], m[1] + k * s[1]), pixel(m[0] + k * s[0], m[1] - k * s[1])
        draw.ellipse((x0, y0, x1, y1), outline=(255, 255, 255), width=width)
    cx, cy = pixel(*m)
    draw.line((cx - 6, cy, cx + 6, cy), fill=(80, 200, 255), width=2)
    draw.line((cx, cy - 6, cx, cy + 6), fill=(80, 200, 255), width=2)
    return np.asarray(picture), post["log_px"], (lo, hi)
