"""How likely the VAE finds real digits: log p(x) of every MNIST test digit, and the floor below which an input does
not look like a digit to it.

    python -m train.likelihood [--weights weights/mnist-vae] [--data_dir data] [--quantile 0.001]

log p(x) is the quadrature the app computes for each input (vae_models.posterior.true_posterior with the app's
settings, QUICK), so the floor is compared with the same number it was chosen from. The floor is the test set's
`quantile` (default 0.1%: 10 of the 10,000 test digits fall below it). That quadrature costs 0.1 to 0.4 s a digit,
so it runs on the test set's low tail only: every digit is first scored on the fixed 64x64 scan over [-6, 6]^2
(DecodedGrid: one matrix product for the whole set), and the `candidates` lowest by that score (default 1%, ten
times the digits below the floor) get the app's quadrature; the command checks that no digit outside that tail can
fall below the floor (the scan's largest overestimate on the tail taken as its bound). Writes <weights>/log_px.json atomically; the app's Reconstruct tab reads it and says when
an input falls below.
"""
import argparse
import json
import math
import time
from pathlib import Path

import torch

from vae_models import Autoencoder, load_pretrained
from vae_models.posterior import QUICK, DecodedGrid, bernoulli_log_joint, true_posterior

from .artifacts import atomic_path
from .mnist import load_mnist

FILE = "log_px.json"


@torch.inference_mode()
def scan_log_px(model, x, batch=1000):
    """x (N, 784) in {0, 1} -> log p(x) (N,) on the fixed 64x64 scan: coarse, but for the whole set at once."""
    scan = DecodedGrid(model)
    return torch.cat([torch.logsumexp(scan.log_joint(x[i:i + batch]), 1) + math.log(scan.area)
                      for i in range(0, len(x), batch)])


@torch.inference_mode()
def quadrature_log_px(model, x):
    """x (N, 784) in {0, 1} -> log p(x) (N,) float64 in nats, one adaptive quadrature per digit as the app does it."""
    scan = DecodedGrid(model)
    mu, logvar = model.encode(x)
    sigma = torch.exp(0.5 * logvar)
    return torch.tensor([true_posterior(bernoulli_log_joint(model, x[i:i + 1], torch.float32), mu[i], sigma[i],
                                        scan=(scan.z, scan.log_joint(x[i:i + 1])[0]), **QUICK)["log_px"]
                         for i in range(len(x))], dtype=torch.float64)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m train.likelihood", description=__doc__.split("\n\n")[0])
    parser.add_argument("--weights", default="weights/mnist-vae", help="the VAE's folder (default weights/mnist-vae)")
    parser.add_argument("--data_dir", default="data", help="where MNIST is, or is fetched to (default data/)")
    parser.add_argument("--quantile", type=float, default=0.001, help="the floor's quantile (default 0.001)")
    parser.add_argument("--candidates", type=float, default=0.01,
                        help="the share of the test set, lowest on the coarse scan, that gets the quadrature (0.01)")
    args = parser.parse_args(argv)
    model = load_pretrained(Autoencoder, args.weights)
    x, _ = load_mnist(args.data_dir)["test"]
    started = time.monotonic()
    coarse = scan_log_px(model, x)
    tail = coarse.argsort()[: max(1, round(args.candidates * len(x)))]
    fine = quadrature_log_px(model, x[tail])
    below = round(args.quantile * len(x))  # the floor: the (below + 1)-th lowest log p(x) of the whole set
    floor = float(fine.sort().values[below])
    # a digit outside the tail scored at least coarse[tail[-1]] on the scan; the scan overestimated the quadrature
    # by at most `over` on the tail: with that bound, such a digit stays above the floor by `margin`
    over = float((coarse[tail] - fine).max())
    margin = float(coarse[tail[-1]]) - over - floor
    if margin <= 0:
        raise SystemExit("The floor is too near the end of the tail; run with a larger --candidates.")
    result = {"floor": floor, "quantile": args.quantile, "n_test": len(x), "below": below,
              "tail": {"digits": len(tail), "scan_over_quadrature_max": over, "margin_nats": margin,
                       "quadrature": {f"{q:g}": float(torch.quantile(fine, q)) for q in (0.0, 0.5, 1.0)}},
              "coarse_quantiles": {f"{q:g}": float(torch.quantile(coarse, q)) for q in (0.0, 0.001, 0.01, 0.5, 1.0)},
              "command": "python -m train.likelihood", "seconds": round(time.monotonic() - started, 1)}
    with atomic_path(Path(args.weights) / FILE) as tmp:
        Path(tmp).write_text(json.dumps(result, indent=1) + "\n")
    print(f"log p(x) of the {len(x):,} test digits (coarse scan): median {result['coarse_quantiles']['0.5']:.1f} "
          f"nats; the floor (the {args.quantile:g} quantile, by quadrature on the lowest {len(tail)}) {floor:.1f} "
          f"nats, {below} digits below it; the rest of the set at least {margin:.1f} nats above it; written to "
          f"{Path(args.weights) / FILE}")


if __name__ == "__main__":
    main()
