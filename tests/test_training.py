"""The Train tab through its API: live training with the trainer's own epoch, streamed, stoppable, one at a time."""
import threading
import time

import numpy as np
import pytest
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError

from conftest import ROOT

EXAMPLE = ROOT / "weights" / "mnist-vae" / "examples" / "digit_3.png"


@pytest.fixture(scope="module")
def client(served_app):
    return Client(served_app[1], verbose=False)


def updates_of(job, timeout=120):
    """Every update a streaming job sent (the tuples of its outputs), once it is finished."""
    job.result(timeout=timeout)
    return job.outputs()


def metrics_in(outputs):
    """The metric rows of the updates that carried them (the others leave that output as it was)."""
    return [o[6] for o in outputs if isinstance(o[6], list)]


def test_a_short_run_streams_finite_losses_that_fall(client):
    job = client.submit("VAE", "1", 0, 2, 2000, api_name="/train")
    outputs = updates_of(job)
    with_metrics = metrics_in(outputs)
    assert len(outputs) >= 3 and len(with_metrics) == 2
    rows = with_metrics[-1]
    assert [r["epoch"] for r in rows] == [0, 1]
    assert all(np.isfinite(v) for r in rows for v in r.values())
    assert rows[-1]["train_loss"] < rows[0]["train_loss"] and rows[-1]["test_loss"] < rows[0]["test_loss"]
    assert "Done: your VAE, 2 epochs" in outputs[-1][0]


def test_the_same_settings_train_the_same_model(client):
    a = updates_of(client.submit("AE", "1", 7, 1, 1000, api_name="/train"))
    b = updates_of(client.submit("AE", "1", 7, 1, 1000, api_name="/train"))
    first, second = metrics_in(a)[-1][0], metrics_in(b)[-1][0]
    assert first["train_loss"] == second["train_loss"] and first["test_kld"] == 0.0


@pytest.mark.parametrize("args, message", [
    (("VAE", "1", 0, 0, 2000), "The number of epochs must be a whole number from 1 to 20"),
    (("VAE", "1", "seven", 2, 2000), "The seed must be a whole number"),
    (("GAN", "1", 0, 2, 2000), "The model must be one of VAE, AE"),
    (("VAE", "3", 0, 2, 2000), "Beta must be one of 0.1, 0.5, 1, 2, 4"),
    (("VAE", "1", 0, 2, 10**9), "The number of training digits"),
])
def test_bad_settings_get_one_sentence(client, args, message):
    with pytest.raises(AppError, match=message):
        client.predict(*args, api_name="/train")


def short_run_seconds(client):
    """How long a 1-epoch AE run on 1,000 digits takes from submission to its end, on this machine now."""
    started = time.monotonic()
    updates_of(client.submit("AE", "1", 0, 1, 1000, api_name="/train"))
    return time.monotonic() - started


@pytest.mark.slow  # timing: several training runs, and a second measured
def test_stop_ends_a_run_within_a_second_and_frees_the_slot(served_app):
    client = Client(served_app[1], verbose=False)
    alone = short_run_seconds(client)
    job = client.submit("VAE", "1", 1, 20, 10000, api_name="/train")
    deadline = time.monotonic() + 60
    while not metrics_in(job.outputs()) and time.monotonic() < deadline:  # one epoch done
        time.sleep(0.1)
    assert metrics_in(job.outputs())
    stopped = time.monotonic()
    job.cancel()
    while not job.done() and time.monotonic() - stopped < 5:
        time.sleep(0.05)
    assert job.done() and time.monotonic() - stopped < 1.0
    # the next run starts at once: the stopped one no longer holds the one training slot (the 19 epochs left of it
    # would take about 20 s on this project's machine, several times a short run)
    assert short_run_seconds(client) < alone + 6


@pytest.mark.slow  # timing: two runs one after the other, their spans compared
def test_two_clients_at_once_the_second_waits_then_runs(served_app):
    """Each client notes when its first update came and when its run ended: the two runs must not overlap."""
    spans = {}

    def run(name):
        client = Client(served_app[1], verbose=False)
        job = client.submit("AE", "1", 0, 2, 2000, api_name="/train")
        # a run waiting for its turn says so ("Waiting for the run(s) ahead of you..."): its first update of training
        while not any(not str(o[0]).startswith("Waiting") for o in job.outputs()) and not job.done():
            time.sleep(0.02)
        first = time.monotonic()
        outputs = updates_of(job)
        spans[name] = (first, time.monotonic(), outputs[-1][0])

    threads = [threading.Thread(target=run, args=(n,)) for n in ("a", "b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert all("Done" in spans[n][2] for n in ("a", "b"))
    earlier, later = sorted(spans.values())
    assert later[0] >= earlier[1] - 0.1  # the second's first update came after the first run had ended


def test_the_visitors_model_is_used_by_reconstruct_and_sample_in_the_same_session(served_app):
    from PIL import Image

    client = Client(served_app[1], verbose=False)
    before = np.asarray(Image.open(client.predict(handle_file(str(EXAMPLE)), api_name="/reconstruct_upload")[8]))
    updates_of(client.submit("VAE", "1", 0, 1, 2000, api_name="/train"))
    after = np.asarray(Image.open(client.predict(handle_file(str(EXAMPLE)), api_name="/reconstruct_upload")[8]))
    assert after.shape[1] > before.shape[1]  # one more model in the row: "yours"
    samples = client.predict(16, 0, api_name="/sample")
    assert samples[3] is not None
    other = Client(served_app[1], verbose=False)  # another visitor has no model of theirs
    assert other.predict(16, 0, api_name="/sample")[3] is None
