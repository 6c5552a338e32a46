"""Loading saved weights (config.json + model.safetensors) that may come from anyone: checked before anything is built.

PyTorchModelHubMixin.from_pretrained builds the model from config.json first, so a config asking for a hidden layer
of 4,000,000 allocates gigabytes before a single tensor is read. Here the config is checked (known keys, sane sizes),
the model is built on the meta device (no memory) to learn the shapes it expects, those are compared with the
safetensors header, and only then are the real tensors read; non-finite weights are refused.
"""
import inspect
import json
import math
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file

MAX_CONFIG_BYTES = 64_000
MAX_SIZE = 65_536  # any one width, channel count or latent size
MAX_PARAMETERS = 100_000_000  # the shipped models have 0.8 M (MLP) and 4 M (ConvVAE)
FLOAT_DTYPES = ("F16", "BF16", "F32", "F64")  # as safetensors names them


class WeightsError(ValueError):
    """Weights that cannot be used; the message is one sentence naming the source and what is wrong."""


def _check_config(classes, config, source):
    """-> the first of `classes` whose __init__ takes every key of config, once every value is a sane size."""
    if not isinstance(config, dict):
        raise WeightsError(f"{source}: config.json must hold a JSON object.")
    fitting = [c for c in classes if not set(config) - (set(inspect.signature(c.__init__).parameters) - {"self"})]
    if not fitting:
        known = set(inspect.signature(classes[0].__init__).parameters) - {"self"}
        unknown = sorted(set(config) - known)
        raise WeightsError(f"{source}: config.json has keys a {classes[0].__name__} does not take: "
                           f"{', '.join(unknown)}.")
    for key, value in config.items():
        for v in value if isinstance(value, list) else [value]:
            if isinstance(v, str) and len(v) < 100:
                continue  # a name, such as kind="vae"; the model's own __init__ checks it
            if isinstance(v, bool) or not isinstance(v, int) or not 1 <= v <= MAX_SIZE:
                raise WeightsError(f"{source}: config.json sets {key} to {value!r}; sizes must be whole numbers "
                                   f"from 1 to {MAX_SIZE}.")
    return fitting[0]


def _local_files(source):
    """A folder, or a Hub repo id "user/name" -> (config path, weights path)."""
    folder = Path(source)
    if folder.is_dir():
        return folder / "config.json", folder / "model.safetensors"
    if folder.exists() or source.count("/") != 1 or source.startswith((".", "/")):
        raise WeightsError(f"{source}: no such weights folder.")
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError
    try:
        return tuple(Path(hf_hub_download(source, name)) for name in ("config.json", "model.safetensors"))
    except (HfHubHTTPError, LocalEntryNotFoundError, OSError, ValueError) as e:
        raise WeightsError(f"{source}: not a local folder, and the Hub repo could not be read "
                           f"({type(e).__name__}).") from None


def load_pretrained(cls, source):
    """Build `cls` from a folder or Hub repo written by save_pretrained, strictly, in eval mode; or WeightsError.
    cls may be a list of classes: the first whose __init__ takes every key of config.json is built (so the MNIST
    models load with [Autoencoder, ConditionalVAE])."""
    classes = list(cls) if isinstance(cls, (list, tuple)) else [cls]
    source = str(source)
    config_path, weights_path = _local_files(source)
    for path in (config_path, weights_path):
        if not path.is_file():
            raise WeightsError(f"{source}: {path.name} is missing.")
    if config_path.stat().st_size > MAX_CONFIG_BYTES:
        raise WeightsError(f"{source}: config.json is {config_path.stat().st_size} bytes; a real one is tiny.")
    try:
        config = json.loads(config_path.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise WeightsError(f"{source}: config.json is not valid JSON ({e}).") from None
    except RecursionError:  # "[" * 30000: nested deeper than any config
        raise WeightsError(f"{source}: config.json is nested too deeply to be a model's settings.") from None
    cls = _check_config(classes, config, source)
    try:
        with torch.device("meta"):  # the shapes the config implies, without allocating them
            state = cls(**config).state_dict()
        expected = {k: tuple(v.shape) for k, v in state.items()}
        # floating-point weights; an integer buffer (BatchNorm's num_batches_tracked) stays the int64 it is
        allowed = {k: FLOAT_DTYPES if v.is_floating_point() else ("I64",) for k, v in state.items()}
    except (TypeError, ValueError) as e:
        raise WeightsError(f"{source}: config.json does not describe a {cls.__name__} ({e}).") from None
    if sum(math.prod(s) for s in expected.values()) > MAX_PARAMETERS:
        raise WeightsError(f"{source}: config.json describes a model of over {MAX_PARAMETERS:,} parameters.")
    try:
        with safe_open(weights_path, "pt") as f:  # reads the header only
            found = {k: tuple(f.get_slice(k).get_shape()) for k in f.keys()}
            dtypes = {k: f.get_slice(k).get_dtype() for k in f.keys()}
    except (SafetensorError, OSError) as e:
        raise WeightsError(f"{source}: model.safetensors is damaged ({e}).") from None
    wrong_type = sorted(k for k, t in dtypes.items() if t not in allowed.get(k, FLOAT_DTYPES))
    if wrong_type:  # int8 or bool weights would be cast silently by load_state_dict: not weights this trainer wrote
        raise WeightsError(f"{source}: model.safetensors holds {dtypes[wrong_type[0]]} values (in {wrong_type[0]}); "
                           "weights are floating-point numbers.")
    if found != expected:
        wrong = sorted(k for k in expected.keys() | found.keys() if expected.get(k) != found.get(k))
        raise WeightsError(f"{source}: model.safetensors does not match config.json (first differing tensor: "
                           f"{wrong[0]}, {found.get(wrong[0])} in the file, {expected.get(wrong[0])} expected).")
    try:
        tensors = load_file(weights_path)
    except (SafetensorError, OSError) as e:
        raise WeightsError(f"{source}: model.safetensors is damaged ({e}).") from None
    bad = [k for k, v in tensors.items() if v.is_floating_point() and not torch.isfinite(v).all()]
    if bad:
        raise WeightsError(f"{source}: the weights hold NaN or infinite values (in {bad[0]}); the training that "
                           "made them diverged.")
    model = cls(**config)
    model.load_state_dict(tensors, strict=True)
    return model.eval()
