"""VAE Explorer: draw a digit and watch it travel through the latent spaces of an autoencoder and a VAE.

    python app.py [--host 127.0.0.1] [--port 7860] [--share] [--weights weights] [--celeba weights/celeba-vae]
                  [--forwarded-allow-ips 10.0.0.1,10.1.0.0/16]

Loads the models once, builds the page (the `ui` package, one module per tab) and serves it. This file is also the
Hugging Face Space's entry point.
"""
import argparse
import ipaddress
import os
import sys
from pathlib import Path

from ui import build_demo, launch, load_models
from vae_models import WeightsError

ROOT = Path(__file__).resolve().parent


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description="Serve VAE Explorer.")
    parser.add_argument("--host", default=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("GRADIO_SERVER_PORT", 7860)))
    parser.add_argument("--share", action="store_true", help="also serve through a public gradio.live link")
    parser.add_argument("--weights", default=os.environ.get("VAE_EXPLORER_WEIGHTS", str(ROOT / "weights")),
                        help="folder holding mnist-ae/ and mnist-vae/ (default weights/, or $VAE_EXPLORER_WEIGHTS)")
    parser.add_argument("--celeba", default=os.environ.get("VAE_EXPLORER_CELEBA", str(ROOT / "weights" / "celeba-vae")),
                        help="CelebA ConvVAE: a folder or a Hub repo id (default weights/celeba-vae, or "
                             "$VAE_EXPLORER_CELEBA); without it the Faces tab says so")
    # on a Hugging Face Space ($SPACE_ID is set) the Space's proxy, from an internal 10.x address, names the visitor
    parser.add_argument("--forwarded-allow-ips",
                        default=os.environ.get("FORWARDED_ALLOW_IPS", "10.0.0.0/8" if os.environ.get("SPACE_ID") else ""),
                        help="the proxies (addresses or networks, comma-separated) whose X-Forwarded-For names the "
                             "client, or * for any; default none (10.0.0.0/8 on a Hugging Face Space), or uvicorn's "
                             "$FORWARDED_ALLOW_IPS (docs/hosting.md)")
    args = parser.parse_args(argv)
    for proxy in filter(None, (p.strip() for p in args.forwarded_allow_ips.split(","))):
        if proxy == "*":  # every peer is a proxy: only where nothing but the proxy can reach the app
            continue
        try:
            ipaddress.ip_network(proxy, strict=False)
        except ValueError:
            parser.error(f"--forwarded-allow-ips: {proxy!r} is not an address or a network (like 10.0.0.0/8).")
    return args


def main(argv=None):
    args = parse_args(argv)
    try:
        models = load_models(args.weights, args.celeba)
        print(models.start_line())
        demo = build_demo(models)
    except WeightsError as e:
        sys.exit(f"error: cannot start VAE Explorer: {e}")
    launch(demo, server_name=args.host, server_port=args.port, share=args.share,
           forwarded_allow_ips=args.forwarded_allow_ips)


if __name__ == "__main__":
    main()
