"""The trainer's files: metrics, JSON, checkpoints, the exported weights folder; each write is atomic. The figures
are in train/figures.py."""
import csv
import json
import os
import shutil
import tempfile
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file

METRIC_COLUMNS = ["epoch", "train_loss", "test_loss", "lr", "train_bce", "train_kld", "test_bce", "test_kld"]


@contextmanager
def atomic_path(path):
    """Yield a temporary path beside `path` (same suffix, so writers can infer the format); on success it replaces
    `path` in one rename, so a reader or a crash never sees a half-written file."""
    path = Path(path)
    tmp = path.with_name(f".{path.stem}.tmp{path.suffix}")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def write_text(path, text):
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def write_json(path, data):
    write_text(path, json.dumps(data, indent=2) + "\n")


def write_metrics(rows, path, columns=METRIC_COLUMNS):
    with atomic_path(path) as tmp:
        with open(tmp, "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=columns, extrasaction="ignore")  # a row's seconds stay out
            writer.writeheader()
            for row in rows:
                writer.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in row.items()})


def read_metrics(path):
    """perf_metrics.csv -> one dict per epoch, METRIC_COLUMNS by name; ValueError (one sentence, naming the file) for
    a file that is not one: a missing column, a cell that is not a number."""
    rows = []
    try:
        with open(path, newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            missing = [c for c in METRIC_COLUMNS if c not in (reader.fieldnames or [])]
            if missing:
                raise ValueError(f"{path} has no {missing[0]} column")
            for row in reader:
                try:
                    rows.append({k: (int(row[k]) if k == "epoch" else float(row[k])) for k in METRIC_COLUMNS})
                except (TypeError, ValueError):  # TypeError: a row shorter than the header gives None
                    raise ValueError(f"{path}, line {reader.line_num}, holds a value that is not a number") from None
    except (csv.Error, UnicodeDecodeError) as e:
        raise ValueError(f"{path} is not a metrics table ({type(e).__name__})") from None
    return rows


def checkpoint_tensors(model, optimizer, epoch, extra=None):
    """What a checkpoint holds, copied to the CPU now (so the run can go on changing its tensors while the copy is
    written): -> (tensors, metadata) for write_checkpoint."""
    def copy(t):
        return t.detach().to("cpu", copy=True).contiguous()

    tensors = {f"model.{k}": copy(v) for k, v in model.state_dict().items()}
    state = optimizer.state_dict()
    for pid, s in state["state"].items():
        for k, v in s.items():
            tensors[f"optim.{pid}.{k}"] = copy(torch.as_tensor(v))
    tensors["rng.torch"] = torch.get_rng_state()
    if torch.cuda.is_available():
        tensors["rng.cuda"] = torch.cuda.get_rng_state()
    meta = {"epoch": json.dumps(epoch), "param_groups": json.dumps(state["param_groups"]),
            "extra": json.dumps(extra or {})}
    return tensors, meta


def write_checkpoint(path, tensors, meta):
    with atomic_path(path) as tmp:
        save_file(tensors, tmp, metadata=meta)


def save_checkpoint(path, model, optimizer, epoch, extra=None):
    """Model, Adam state and RNG state after `epoch`, as one safetensors file (no pickle): tensors by name, the
    rest as JSON in the header's metadata."""
    write_checkpoint(path, *checkpoint_tensors(model, optimizer, epoch, extra))


class BackgroundWriter:
    """Writes files one after another on a thread, so the GPU trains on while PNGs are encoded and checkpoints
    written. Callers hand over CPU copies. A failed write raises at the next submit or at close().

    threaded=False writes each file at once, on the caller's thread: what a CPU run wants. There the thread overlaps
    with nothing: it takes the interpreter lock and a core from the training steps, which need both for every
    operation (on 2 cores, each epoch after the first of a 3-epoch MNIST run took 1 to 1.5 s longer with it; see
    docs/benchmarks.md)."""

    def __init__(self, threaded=True):
        self.pool, self.pending = (ThreadPoolExecutor(max_workers=1) if threaded else None), []

    def submit(self, fn, *args):
        self.check()
        if self.pool is None:
            fn(*args)
        else:
            self.pending.append(self.pool.submit(fn, *args))

    def check(self):
        done = [f for f in self.pending if f.done()]
        self.pending = [f for f in self.pending if not f.done()]
        for f in done:
            f.result()

    def wait(self):
        """Wait for every write so far; raise the first failure."""
        pending, self.pending = self.pending, []
        for f in pending:
            f.result()

    def close(self):
        try:
            self.wait()
        finally:
            if self.pool is not None:
                self.pool.shutdown()


def checkpoint_settings(path):
    """The run settings a checkpoint records (LoopConfig.run_settings), read from its header alone; None when there
    is no readable checkpoint at path."""
    try:
        with safe_open(path, "pt") as f:
            return json.loads(f.metadata()["extra"]).get("settings")
    except (OSError, SafetensorError, KeyError, TypeError, AttributeError, ValueError):
        return None


def load_checkpoint(path, model, optimizer):
    """Restore what save_checkpoint wrote (strictly) and return (epoch, extra)."""
    tensors = load_file(path)
    with safe_open(path, "pt") as f:
        meta = f.metadata()
    epoch, extra = json.loads(meta["epoch"]), json.loads(meta["extra"])
    if type(epoch) is not int or epoch < 0 or not isinstance(extra, dict):
        raise ValueError(f"{path}: its metadata names no epoch")
    model.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model.")}, strict=True)
    state = {}
    for k, v in tensors.items():
        if k.startswith("optim."):
            _, pid, name = k.split(".", 2)
            state.setdefault(int(pid), {})[name] = v
    optimizer.load_state_dict({"state": state, "param_groups": json.loads(meta["param_groups"])})
    match_parameter_layout(optimizer)
    torch.set_rng_state(tensors["rng.torch"])
    if "rng.cuda" in tensors and torch.cuda.is_available():
        torch.cuda.set_rng_state(tensors["rng.cuda"])
    return epoch, extra


def match_parameter_layout(optimizer):
    """Give every per-parameter state tensor (Adam's exp_avg, exp_avg_sq) its parameter's device, dtype and strides.

    Why: the checkpoint stores contiguous tensors, and load_state_dict moves them to the parameter's device and
    dtype but not its memory layout; CUDA's fused Adam then refuses a channels_last parameter whose moments are
    contiguous ("must have same dtype, device, and layout"). The step counters keep the form load_state_dict gave
    them (a float32 tensor on the parameter's device for fused Adam)."""
    for group in optimizer.param_groups:
        for p in group["params"]:
            for name, value in optimizer.state.get(p, {}).items():
                if torch.is_tensor(value) and value.shape == p.shape and value.stride() != p.stride():
                    optimizer.state[p][name] = torch.empty_like(p, dtype=value.dtype).copy_(value)


@dataclass(frozen=True)
class ModelFolder:
    """An MNIST weights folder and its facts, as its own files state them (never its name)."""
    path: Path
    kind: str  # "ae", "vae" or "cvae": config.json's kind, or its n_classes for the conditional VAE
    beta: float | None  # the KL term's weight, training.json's (1, the ELBO, when it has none); None for the AE

    @property
    def name(self):
        """What the app and the report call it: AE, CVAE, VAE beta=4."""
        return self.kind.upper() if self.kind != "vae" else f"VAE beta={self.beta:g}"


def read_json(path, max_bytes=64_000):
    """A small JSON file -> its value; ValueError (one sentence naming the file) for anything else."""
    path = Path(path)
    try:
        if path.stat().st_size > max_bytes:
            raise ValueError(f"{path} is {path.stat().st_size:,} bytes; a real one is tiny")
        return json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise ValueError(f"{path} is not valid JSON") from None
    except RecursionError:
        raise ValueError(f"{path} is nested too deeply to be settings") from None


def model_facts(folder):
    """folder -> ModelFolder, from config.json (kind) and training.json (beta); None for a folder that holds no
    MNIST model (no config.json, or a face model's); ValueError (one sentence) for files that cannot be read."""
    folder = Path(folder)
    if not (folder / "config.json").is_file():
        return None
    config = read_json(folder / "config.json")
    if not isinstance(config, dict):
        raise ValueError(f"{folder / 'config.json'} does not hold a JSON object")
    kind = "cvae" if "n_classes" in config else config.get("kind")
    if kind not in ("ae", "vae", "cvae"):
        return None
    beta = 1.0
    if (folder / "training.json").exists():
        facts = read_json(folder / "training.json")
        beta = facts.get("beta", 1.0) if isinstance(facts, dict) else None
        if isinstance(beta, bool) or not isinstance(beta, (int, float)) or not 0 <= beta < float("inf"):
            raise ValueError(f"{folder / 'training.json'} does not give a beta of 0 or more")
    return ModelFolder(folder, kind, None if kind == "ae" else float(beta))


def discover_models(weights):
    """Every MNIST model folder directly in `weights` -> (ModelFolders, AE first, then by kind and beta; sentences
    for the folders whose files could not be read, which are left out)."""
    found, problems = [], []
    for folder in sorted(p for p in Path(weights).iterdir() if p.is_dir()) if Path(weights).is_dir() else []:
        try:
            facts = model_facts(folder)
        except (OSError, ValueError) as e:
            problems.append(f"{folder}: {e}.")
            continue
        if facts is not None:
            found.append(facts)
    order = {"ae": 0, "vae": 1, "cvae": 2}
    return sorted(found, key=lambda f: (order[f.kind], f.beta or 0.0, f.path.name)), problems


def export_weights(model, weights_dir, extra_files=(), write_extras=None):
    """save_pretrained (config.json + model.safetensors) plus the run's files, into `weights_dir`.

    Everything is written first into a new temporary folder beside it (a unique name: no folder of the user's is ever
    touched), then each file is renamed into place, the weights last. Only the files this export writes are replaced;
    anything else in or beside `weights_dir` stays as it was."""
    weights_dir = Path(weights_dir)
    weights_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=weights_dir.parent, prefix=f".{weights_dir.name}.export-") as tmp:
        tmp = Path(tmp)
        model.save_pretrained(tmp)
        for f in extra_files:
            shutil.copy2(f, tmp / Path(f).name)
        if write_extras is not None:
            write_extras(tmp)
        last = {"config.json": 1, "model.safetensors": 2}
        for f in sorted((p for p in tmp.rglob("*") if p.is_file()), key=lambda p: last.get(p.name, 0)):
            target = weights_dir / f.relative_to(tmp)
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(f, target)
