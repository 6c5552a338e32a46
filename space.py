"""Create or update a Hugging Face Space that runs VAE Explorer, from this checkout, in one command.

    python space.py <user>/vae-explorer [--private]    # needs a write token: `hf auth login` or $HF_TOKEN
    python space.py <user>/vae-explorer --dry-run      # the files the Space would receive; no token, no network

The Space receives what the app needs and nothing else (the allowlist ALLOW): app.py, the Python files of ui/,
vae_models/ and train/ (the app reads the packed subset with it), the page's modules and vendored libraries
(ui/static/, less their tests), the shipped weights with their metrics, codes,
examples and pictures, docs/REPORT.md and docs/figures/ (the Report tab), README.md (its YAML header is the Space's
card: the gradio SDK, app.py) and .gitattributes. Never data sets (data/), results/, caches, checkpoints, tests,
benchmarks, notebooks or virtual environments. The Space's requirements.txt is written from this one with torch's CPU
build from PyTorch's own index (space_requirements): PyPI's torch is the CUDA build, gigabytes a CPU Space never uses.

Everything goes in one commit through huggingface_hub's HTTP API, which stores the binaries with LFS/Xet itself (no
git, no git-lfs needed here). Files already on the Space that are not in the list are left there.
"""
import argparse
import re
import sys
from pathlib import Path

from huggingface_hub.utils import filter_repo_objects

ROOT = Path(__file__).resolve().parent
CPU_INDEX = "https://download.pytorch.org/whl/cpu"
WEIGHTS = [f"weights/{pattern}" for pattern in
           ("*.safetensors", "*/config.json", "*/training.json", "*/README.md", "*/*.safetensors", "*/*.csv",
            "*/*.png", "*/examples/*.png")]
ALLOW = ["app.py", "README.md", ".gitattributes", "ui/*.py", "ui/static/*", "vae_models/*.py", "train/*.py", *WEIGHTS,
         "docs/REPORT.md", "docs/figures/*.png", "docs/figures/*.txt", "docs/figures/*.csv"]
# fnmatch's * also crosses "/": these keep out what could sit inside an allowed folder
IGNORE = ["*__pycache__*", "*.pyc", "*checkpoint*", "*vae_explorer_cache*", "*.ipynb_checkpoints*", "*.cache*",
          "*.git/*", "ui/static/tests/*"]


def space_files(root=ROOT):
    """The checkout's files a Space receives, as paths relative to root (sorted), chosen as upload_folder would
    choose them with these allow and ignore patterns."""
    root = Path(root)
    tops = {pattern.split("/")[0] for pattern in ALLOW}  # only these are walked: never a data set's 200,000 files
    paths = [root / t for t in tops if (root / t).is_file()]
    paths += [p for t in tops if (root / t).is_dir() for p in (root / t).rglob("*") if p.is_file()]
    files = sorted(p.relative_to(root).as_posix() for p in paths)
    return list(filter_repo_objects(files, allow_patterns=ALLOW, ignore_patterns=IGNORE))


def space_requirements(requirements):
    """requirements.txt's text -> the Space's: the same pins, torch's as the CPU build from PyTorch's index."""
    lines = requirements.splitlines()
    torch_pins = [i for i, line in enumerate(lines) if re.match(r"torch==[\w.]+$", line.strip())]
    if len(torch_pins) != 1:
        raise ValueError("requirements.txt must pin torch exactly once (torch==X.Y.Z).")
    i = torch_pins[0]
    lines[i] = lines[i].strip() + "+cpu"
    header = ["# Written by space.py from the repository's requirements.txt: torch's CPU build from PyTorch's index.",
              f"--extra-index-url {CPU_INDEX}"]
    return "\n".join(header + [line for line in lines if not line.startswith("#")]) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description="Create or update a Hugging Face Space running VAE Explorer.")
    parser.add_argument("repo_id", help="the Space, <user or org>/<name>")
    parser.add_argument("--private", action="store_true", help="create the Space as private")
    parser.add_argument("--dry-run", action="store_true", help="list the files the Space would receive; upload nothing")
    args = parser.parse_args(argv)
    files = space_files()
    requirements = space_requirements((ROOT / "requirements.txt").read_text())
    size = sum((ROOT / f).stat().st_size for f in files)
    if args.dry_run:
        print("\n".join(files))
        print(f"requirements.txt (written from requirements.txt):\n{requirements}")
        print(f"{len(files) + 1} files, {size / 1e6:.1f} MB; nothing uploaded (--dry-run).")
        return

    from huggingface_hub import CommitOperationAdd, HfApi
    from huggingface_hub.errors import HfHubHTTPError

    api = HfApi()
    operations = [CommitOperationAdd(path_in_repo=f, path_or_fileobj=str(ROOT / f)) for f in files]
    operations.append(CommitOperationAdd(path_in_repo="requirements.txt", path_or_fileobj=requirements.encode()))
    try:
        url = api.create_repo(args.repo_id, repo_type="space", space_sdk="gradio", private=args.private,
                              exist_ok=True)
        api.create_commit(args.repo_id, operations, repo_type="space",
                          commit_message=f"VAE Explorer: {len(operations)} files from space.py")
    except HfHubHTTPError as e:
        sys.exit(f"error: the Hub refused the upload to {args.repo_id}: {e}")
    print(f"Uploaded {len(operations)} files ({size / 1e6:.1f} MB) to {url}; the Space builds and starts by itself.")


if __name__ == "__main__":
    main()
