import os
import subprocess
import sys

import pytest
import torch

from train.__main__ import main
from train.celeba import FaceFiles, find_splits, load_celeba, subset_indices
from train.mnist import DataError
from vae_models import ConvVAE
from conftest import ROOT
from bench.fake_celeba import fake_faces


@pytest.fixture
def celeba_dir(tmp_path):
    root = tmp_path / "data" / "celeba"
    names = fake_faces(root / "img_align_celeba", 36)
    parts = ["0"] * 24 + ["1"] * 4 + ["2"] * 8
    (root / "list_eval_partition.txt").write_text("".join(f"{n} {p}\n" for n, p in zip(names, parts)))
    return tmp_path / "data"


def celeba_flags(data_dir, tmp_path, *more):
    return ["celeba", "--data_dir", str(data_dir), "--out_dir", str(tmp_path / "results"), "--n_epochs", "1",
            "--batch_size", "8", "--subset", "16", "--latent_size", "8", "--num_workers", "0", "--quiet",
            "--exp_name", "faces", "--weights_dir", str(tmp_path / "weights"), *more]


def test_celeba_layout_is_cropped_to_64_and_split_by_the_partition_file(celeba_dir):
    train, test, root = find_splits(celeba_dir)
    assert len(train) == 24 and len(test) == 8 and root == celeba_dir / "celeba"
    face = FaceFiles(train)[0]
    assert face.shape == (3, 64, 64) and face.dtype == torch.uint8


def test_one_epoch_end_to_end_writes_every_artifact_and_loadable_weights(celeba_dir, tmp_path):
    main(celeba_flags(celeba_dir, tmp_path))
    out = tmp_path / "results" / "faces"
    for name in ["perf_metrics.csv", "loss_curve.png", "reconstruction_0.png", "sample_0.png"]:
        assert (out / name).stat().st_size > 0, name
    model = ConvVAE.from_pretrained(tmp_path / "weights", strict=True)
    assert model.latent_size == 8 and (tmp_path / "weights" / "sample_0.png").exists()
    cache = sorted(p.name for p in (celeba_dir / "celeba" / "vae_explorer_cache").iterdir())
    assert [c.rsplit("-", 1)[0] for c in cache] == ["test-8-64px", "train-16-64px"]


def test_a_plain_folder_of_faces_works_with_a_held_out_part(tmp_path):
    fake_faces(tmp_path / "faces", 20)
    train, test, _ = find_splits(tmp_path / "faces")
    assert len(train) == 18 and len(test) == 2 and not set(train) & set(test)
    main(celeba_flags(tmp_path / "faces", tmp_path))
    assert (tmp_path / "weights" / "model.safetensors").exists()


def test_another_seed_never_reuses_a_held_out_set_it_trains_on(tmp_path):
    """A plain folder's held-out part depends on the seed, so its cache must too: seed 2 must not test on seed 1's
    held-out faces while training on them."""
    fake_faces(tmp_path / "faces", 20)
    for seed in (1, 2):
        train, test = load_celeba(tmp_path / "faces", subset=0, seed=seed, quiet=True)
        train_files, test_files, _ = find_splits(tmp_path / "faces", seed=seed)
        expected = torch.stack([FaceFiles(test_files)[i] for i in range(len(test_files))])
        assert torch.equal(test, expected), seed
        assert len(train) == len(train_files)
    assert len(list((tmp_path / "faces" / "vae_explorer_cache").glob("test-*.npy"))) == 2


def test_the_subset_is_the_same_for_the_same_seed(celeba_dir):
    assert subset_indices(1000, 50, seed=1) == subset_indices(1000, 50, seed=1)
    assert subset_indices(1000, 50, seed=1) != subset_indices(1000, 50, seed=2)
    assert subset_indices(10, 50, seed=1) == list(range(10))
    a, _ = load_celeba(celeba_dir, subset=10, seed=5, quiet=True)
    b, _ = load_celeba(celeba_dir, subset=10, seed=5, quiet=True)  # from the cache this time
    train, _, _ = find_splits(celeba_dir)
    fresh = torch.stack([FaceFiles(train)[i] for i in subset_indices(len(train), 10, 5)])
    assert torch.equal(a, b) and torch.equal(a, fresh)


def test_a_broken_layout_is_refused_with_a_clear_message(celeba_dir, tmp_path, capsys):
    root = celeba_dir / "celeba"
    (root / "img_align_celeba" / "000003.jpg").unlink()
    with pytest.raises(DataError, match="1 images named in .* are missing .*000003.jpg"):
        find_splits(celeba_dir)
    (root / "list_eval_partition.txt").unlink()
    with pytest.raises(DataError, match="list_eval_partition.txt is missing"):
        find_splits(celeba_dir)
    with pytest.raises(DataError, match="No CelebA at"):
        find_splits(tmp_path / "nowhere")
    (root / "list_eval_partition.txt").write_text("000001.jpg 0\n")
    (root / "img_align_celeba").rename(root / "elsewhere")
    with pytest.raises(DataError, match="the image folder .*img_align_celeba is missing"):
        find_splits(celeba_dir)
    (root / "elsewhere").rename(root / "img_align_celeba")
    (root / "list_eval_partition.txt").unlink()
    with pytest.raises(SystemExit, match="list_eval_partition.txt is missing"):
        main(celeba_flags(celeba_dir, tmp_path))


@pytest.mark.slow  # two processes, each starting python and torch
def test_torchrun_with_two_cpu_processes_trains_and_rank_0_writes(celeba_dir, tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           "-m", "train", *celeba_flags(celeba_dir, tmp_path, "--device", "cpu")]
    done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.count("Final epoch 0") == 1  # one writer
    assert ConvVAE.from_pretrained(tmp_path / "weights", strict=True).latent_size == 8


def _one_step(model, optimizer, x):
    loss = torch.nn.functional.binary_cross_entropy_with_logits(model(x)[0][0], x, reduction="sum")
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()


def test_a_channels_last_model_resumes_with_adam_state_in_its_parameters_layout(tmp_path):
    """The GPU path trains a channels_last ConvVAE with fused Adam; a checkpoint stores contiguous tensors, and CUDA's
    fused Adam refuses moments whose layout differs from their parameter's. The CPU accepts the mix, so check the
    layout itself, then that the resumed step equals the uninterrupted one."""
    from train.artifacts import load_checkpoint, save_checkpoint

    def fresh():
        torch.manual_seed(0)
        model = ConvVAE(latent_size=4, channels=(4, 8, 8, 8)).to(memory_format=torch.channels_last)
        return model, torch.optim.Adam(model.parameters(), lr=1e-3, fused=True)

    x = torch.rand(4, 3, 64, 64).contiguous(memory_format=torch.channels_last)
    straight, straight_opt = fresh()
    torch.manual_seed(1)
    _one_step(straight, straight_opt, x)
    save_checkpoint(tmp_path / "ckpt.safetensors", straight, straight_opt, epoch=0)
    rng = torch.get_rng_state()
    _one_step(straight, straight_opt, x)

    resumed, resumed_opt = fresh()
    load_checkpoint(tmp_path / "ckpt.safetensors", resumed, resumed_opt)
    assert any(p.dim() == 4 and not p.is_contiguous() for p in resumed.parameters())  # really channels_last
    for p in resumed.parameters():
        for name in ("exp_avg", "exp_avg_sq"):
            state = resumed_opt.state[p][name]
            assert state.stride() == p.stride() and state.device == p.device and state.dtype == p.dtype, name
    torch.set_rng_state(rng)
    _one_step(resumed, resumed_opt, x)
    for a, b in zip(straight.state_dict().values(), resumed.state_dict().values()):
        assert torch.equal(a, b)


@pytest.mark.slow
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_a_celeba_run_on_the_gpu_resumes_to_the_same_weights(celeba_dir, tmp_path):
    from safetensors.torch import load_file

    def run(name, epochs, *more):
        flags = celeba_flags(celeba_dir, tmp_path, "--device", "cuda", "--n_epochs", str(epochs), *more)
        flags[flags.index("--exp_name") + 1] = name
        flags[flags.index("--weights_dir") + 1] = str(tmp_path / name)
        main(flags)

    run("straight", 2)
    run("resumed", 1)
    run("resumed", 2, "--resume", "--replace_weights")
    a, b = (load_file(tmp_path / n / "model.safetensors") for n in ("straight", "resumed"))
    assert all(torch.equal(a[k], b[k]) for k in a)
