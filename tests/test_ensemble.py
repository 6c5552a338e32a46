"""python -m train ensemble: many models trained as one batched model, each member its own single run."""
import math

import pytest
import torch
from safetensors.torch import load_file

from conftest import fake_digits
from train.__main__ import main
from train.ensemble import Member, members_of, spread, train_ensemble
from train.loop import LoopConfig, train
from vae_models import Autoencoder, load_pretrained


def digits(n, seed):
    images, _ = fake_digits(n, seed)
    return torch.from_numpy(images).float().div(255).round().view(n, 784)


def test_members_are_the_ae_for_beta_zero_and_a_vae_otherwise():
    assert members_of([0, 2], [5, 6]) == [Member("ae", 1.0, 5), Member("ae", 1.0, 6), Member("vae", 2.0, 5),
                                          Member("vae", 2.0, 6)]
    assert Member("vae", 1.0, 5).name == "mnist-vae-seed5" and Member("vae", 0.5, 5).name == "mnist-vae-beta0.5-seed5"


def test_each_member_trains_as_its_own_single_run(tmp_path):
    # two kinds, two betas, two seeds: each member against the trainer's own train() with the same seed and beta
    train_x, test_x = digits(300, 0), digits(80, 1)
    members = [Member("ae", 1.0, 3), Member("vae", 0.5, 4), Member("vae", 2.0, 3)]
    rows = train_ensemble(members, train_x, test_x, tmp_path, n_epochs=2, hidden_size=64, log=lambda s: None)
    assert len(rows) == len(members) * 2
    for m in members:
        torch.manual_seed(m.seed)  # as run_mnist: seed, then build
        model = Autoencoder(m.kind, hidden_size=64)
        single = train(model, train_x, test_x, LoopConfig(out_dir=tmp_path / m.name, n_epochs=2, seed=m.seed,
                                                          beta=m.beta, quiet=True))
        mine = [r for r in rows if r["member"] == m.name]
        for a, b in zip(single, mine):
            for k in ("train_loss", "train_bce", "train_kld", "test_loss", "test_bce", "test_kld"):
                assert b[k] == pytest.approx(a[k], rel=1e-5, abs=1e-5), (m.name, k)
        # the same weights up to float32 rounding: a batched matrix product rounds differently from a single one
        # (2.4e-7 on one layer's output), and 2 epochs carry that to about 1e-5
        weights = load_file(tmp_path / "members" / m.name / "model.safetensors")
        for k, v in model.state_dict().items():
            assert torch.allclose(weights[k], v, atol=1e-4, rtol=0), (m.name, k)


def test_the_spread_is_mean_and_sample_sd_of_the_last_epoch():
    rows = [{"kind": "vae", "beta": 1.0, "seed": s, "epoch": e, **{k: float(v + 10 * e) for k in
            ("train_loss", "train_bce", "train_kld", "test_loss", "test_bce", "test_kld")}}
            for e in (0, 1) for s, v in ((1, 1.0), (2, 3.0))]
    mean, sd, n = spread(rows)["vae", 1.0]["test_bce"]
    assert (mean, n) == (12.0, 2) and sd == pytest.approx(math.sqrt(2))


def test_the_ensemble_command_writes_rows_and_weights_and_refuses_a_used_folder(mnist_dir, tmp_path, capsys):
    out = tmp_path / "runs"
    argv = ["ensemble", "--betas", "0,1", "--seeds", "2", "--n_epochs", "1", "--hidden_layer_size", "32",
            "--data_dir", str(mnist_dir), "--out_dir", str(out)]
    rows = main(argv)
    assert {(r["kind"], r["seed"]) for r in rows} == {("ae", 8675309), ("ae", 8675310), ("vae", 8675309),
                                                       ("vae", 8675310)}
    assert (out / "ensemble" / "ensemble_metrics.csv").read_text().count("\n") == 1 + 4
    model = load_pretrained([Autoencoder], out / "ensemble" / "members" / "mnist-vae-seed8675310")
    assert model.is_vae and model.fc1.out_features == 32
    assert "VAE beta 1" in capsys.readouterr().out
    with pytest.raises(SystemExit, match="not empty"):
        main(argv)


@pytest.mark.parametrize("betas", ["0,x", "-1", "1,1", "nan"])
def test_bad_betas_are_one_sentence(betas, capsys):
    with pytest.raises(SystemExit):
        main(["ensemble", "--betas", betas])
    assert "--betas" in capsys.readouterr().err


def test_a_resumed_ensemble_ends_exactly_as_an_uninterrupted_one(tmp_path):
    train_x, test_x = digits(200, 0), digits(50, 1)
    members = [Member("ae", 1.0, 3), Member("vae", 1.0, 3), Member("vae", 1.0, 4)]
    whole = train_ensemble(members, train_x, test_x, tmp_path / "whole", n_epochs=2, hidden_size=32,
                           log=lambda s: None)
    train_ensemble(members, train_x, test_x, tmp_path / "cut", n_epochs=1, hidden_size=32, log=lambda s: None)
    resumed = train_ensemble(members, train_x, test_x, tmp_path / "cut", n_epochs=2, hidden_size=32, resume=True,
                             log=lambda s: None)
    assert [r["test_loss"] for r in resumed] == pytest.approx([r["test_loss"] for r in whole], rel=1e-6)
    for m in members:
        a, b = (load_file(tmp_path / run / "members" / m.name / "model.safetensors") for run in ("whole", "cut"))
        assert all(torch.equal(a[k], b[k]) for k in a), m.name
    with pytest.raises(ValueError, match="other settings"):
        train_ensemble(members[:2], train_x, test_x, tmp_path / "cut", n_epochs=3, hidden_size=32, resume=True,
                       log=lambda s: None)


def test_the_summary_is_the_mean_and_sample_sd_of_each_models_last_epoch():
    from train.spread import summarise

    rows = [{"model": "VAE", "beta": "1", "seed": s, "epoch": e, "test_loss": v + e, "test_log_px_quadrature": None}
            for s, v in ((1, 140.0), (2, 142.0), (3, 147.0)) for e in (0, 1)]
    rows = [{**r, **{m: 0.0 for m in ("train_loss", "train_bce", "train_kld", "test_bce", "test_kld")},
             "test_codes_in_square": None, "prior_samples_recognised": None, "mixture_samples_recognised": None,
             "test_bce_at_mu": None, "test_knn10_accuracy": None}
            for r in rows]
    (loss,) = [s for s in summarise(rows) if s["metric"] == "test_loss"]
    assert (loss["n"], loss["mean"], loss["min"], loss["max"]) == (3, 144.0, 141.0, 148.0)
    assert loss["sd"] == pytest.approx(math.sqrt(((141 - 144) ** 2 + (143 - 144) ** 2 + (148 - 144) ** 2) / 2))
    assert not [s for s in summarise(rows) if s["metric"] == "test_log_px_quadrature"]  # no values: no row


@pytest.mark.slow
def test_a_finished_ensemble_publishes_its_spread_without_training_again(mnist_dir, tmp_path, capsys):
    import statistics

    from train.spread import EVALUATIONS, MEMBER_COLUMNS, SUMMARY_COLUMNS, read_csv

    out, spread_dir = tmp_path / "runs", tmp_path / "spread"
    argv = ["ensemble", "--betas", "0,1", "--seeds", "2", "--n_epochs", "2", "--hidden_layer_size", "32",
            "--data_dir", str(mnist_dir), "--out_dir", str(out)]
    main(argv)
    run_dir = out / "ensemble"
    trained = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in sorted(run_dir.rglob("*")) if p.is_file()}
    capsys.readouterr()
    main(argv + ["--resume", "--spread_dir", str(spread_dir)])
    log = capsys.readouterr().out
    assert "epoch   " not in log and "Wrote members.csv" in log  # no epoch trained again
    # the finished run's folder is only read: nothing in it written again, nothing added
    assert {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in sorted(run_dir.rglob("*")) if p.is_file()} == trained

    members = read_csv(spread_dir / "members.csv")
    assert tuple(members[0]) == MEMBER_COLUMNS and len(members) == 4 * 2
    assert {(r["model"], r["beta"]) for r in members} == {("AE", ""), ("VAE", "1")}
    for r in members:  # the evaluations on the last epoch only, and only where they apply
        filled = {k for k in EVALUATIONS if r[k] != ""}
        if r["epoch"] == "0":
            assert not filled
        elif r["model"] == "AE":
            assert filled == {"test_codes_in_square", "prior_samples_recognised", "mixture_samples_recognised",
                              "test_bce_at_mu", "test_knn10_accuracy"}
        else:
            assert filled == {"test_codes_in_square", "prior_samples_recognised", "test_log_px_quadrature",
                              "test_bce_at_mu", "test_knn10_accuracy"}
            assert float(r["test_log_px_quadrature"]) < 0
    # every summary row recomputed from members.csv: mean and the sample standard deviation over the seeds
    summary = read_csv(spread_dir / "summary.csv")
    assert tuple(summary[0]) == SUMMARY_COLUMNS
    assert {(r["model"], r["metric"]) for r in summary} >= {("AE", "test_loss"), ("VAE", "test_kld"),
                                                           ("VAE", "test_log_px_quadrature")}
    for s in summary:
        values = [float(r[s["metric"]]) for r in members
                  if r["model"] == s["model"] and r["epoch"] == "1" and r[s["metric"]] != ""]
        assert int(s["n"]) == len(values) == 2
        assert float(s["mean"]) == pytest.approx(statistics.mean(values), rel=1e-12, abs=1e-12)
        assert float(s["sd"]) == pytest.approx(statistics.stdev(values), rel=1e-9, abs=1e-12)
        assert float(s["min"]) == min(values) and float(s["max"]) == max(values)
    assert (spread_dir / "loss_band.png").stat().st_size > 1000
    table = (spread_dir / "table.md").read_text()
    assert "| test loss, one z a digit (nats) |" in table and "| AE: seed 8675309 (rank of n, 1 = lowest) |" in table
    assert table.count(" of 2)") >= 2 * 8  # each row: the first seed's rank among the two, for both models


def test_the_report_table_gives_mean_sd_range_and_the_shipped_seeds_rank():
    from train.spread import MEMBER_COLUMNS, report_table

    members = [{**dict.fromkeys(MEMBER_COLUMNS, ""), "model": "AE", "beta": "", "seed": str(s), "epoch": "1", "train_loss": str(v), "train_bce": str(v),
                "train_kld": "0", "test_loss": str(v + 10), "test_bce": str(v + 10), "test_kld": "0",
                "test_codes_in_square": str(v / 1000), "test_log_px_quadrature": ""}
               for s, v in ((7, 100.0), (8, 104.0), (9, 102.0))]
    members += [{**r, "epoch": "0", "test_loss": "999"} for r in members]  # an earlier epoch: not in the table
    table = report_table(members, shipped_seed=9).splitlines()
    row = {line.split(" | ")[0].lstrip("| "): line for line in table[2:]}
    # 110, 114, 112 over three seeds: mean 112, sample sd 2; seed 9's 112 is the 2nd lowest
    assert "112.00 ± 2.00 (110.00 to 114.00) | 112.00 (2 of 3)" in row["test loss, one z a digit (nats)"]
    assert "10.2% ± 0.2 (10.0% to 10.4%) | 10.2% (2 of 3)" in row["test codes in [-2, 2]^2"]
    assert "test log p(x) by quadrature (nats)" not in row  # no value for any model: no row


def test_the_shipped_summary_is_computed_from_the_shipped_members():
    import statistics
    from pathlib import Path

    from train.spread import read_csv

    folder = Path(__file__).resolve().parents[1] / "docs" / "figures" / "spread"
    members, summary = read_csv(folder / "members.csv"), read_csv(folder / "summary.csv")
    last = max(int(r["epoch"]) for r in members)
    assert last == 99 and len(summary) > 10
    for s in summary:
        values = [float(r[s["metric"]]) for r in members if (r["model"], r["beta"]) == (s["model"], s["beta"])
                  and int(r["epoch"]) == last and r[s["metric"]] != ""]
        assert int(s["n"]) == len(values) == 5
        assert float(s["mean"]) == pytest.approx(statistics.mean(values), rel=1e-9, abs=1e-9)
        assert float(s["sd"]) == pytest.approx(statistics.stdev(values), rel=1e-6, abs=1e-9)
