"""train.adam.Adam against torch.optim.Adam(fused=True): the same steps to the bit, and one state_dict form, so a
checkpoint moves between the two (a CPU run resumed on a GPU, and back)."""
import pytest
import torch

from train import artifacts
from train.adam import Adam


def params():
    torch.manual_seed(0)
    return [torch.nn.Parameter(torch.randn(shape)) for shape in ((5, 3), (3,), (2, 4, 4))]


def step_both(ours, theirs, n, seed):
    g = torch.Generator().manual_seed(seed)
    for _ in range(n):
        grads = [torch.randn(p.shape, generator=g) for p in ours.params]
        for opt in (ours, theirs):
            for p, grad in zip(opt.param_groups[0]["params"], grads):
                p.grad = grad.clone()
            opt.step()


def assert_same(ours, theirs):
    for p, q in zip(ours.params, theirs.param_groups[0]["params"]):
        assert torch.equal(p, q)
        for k in ("step", "exp_avg", "exp_avg_sq"):
            assert torch.equal(ours.state[p][k], theirs.state[q][k]), k


def test_its_steps_and_state_dict_are_torch_optims():
    ours = Adam(params(), lr=3e-3)
    theirs = torch.optim.Adam(params(), lr=3e-3, fused=True)
    step_both(ours, theirs, 7, seed=1)
    assert_same(ours, theirs)
    a, b = ours.state_dict(), theirs.state_dict()
    assert a["param_groups"] == b["param_groups"]
    assert a["state"].keys() == b["state"].keys()
    for i in a["state"]:
        for k, v in b["state"][i].items():
            assert torch.equal(a["state"][i][k], v) and a["state"][i][k].dtype == v.dtype


def test_a_parameter_without_a_gradient_is_left_alone():
    ours = Adam(params())
    theirs = torch.optim.Adam(params(), fused=True)
    for opt in (ours, theirs):
        for p in opt.param_groups[0]["params"][:2]:
            p.grad = torch.ones_like(p)
        opt.step()
    for p, q in zip(ours.params[:2], theirs.param_groups[0]["params"][:2]):
        assert torch.equal(p, q) and torch.equal(ours.state[p]["exp_avg"], theirs.state[q]["exp_avg"])
    assert torch.equal(ours.params[2], params()[2]) and ours.state[ours.params[2]]["step"] == 0


@pytest.mark.parametrize("direction", ["ours to torch", "torch to ours"])
def test_a_checkpoint_continues_under_the_other_optimizer(tmp_path, direction):
    """Three steps, a checkpoint (as the trainer writes it), then three more under the other class: the same as six
    steps of torch.optim.Adam."""
    straight = torch.optim.Adam(params(), lr=2e-3, fused=True)
    first, second = (Adam, torch.optim.Adam) if direction == "ours to torch" else (torch.optim.Adam, Adam)
    kwargs = {"fused": True} if first is torch.optim.Adam else {}
    model = torch.nn.ParameterList(params())
    opt = first(model.parameters(), lr=2e-3, **kwargs)
    g = torch.Generator().manual_seed(4)
    grads = [[torch.randn(p.shape, generator=g) for p in model] for _ in range(6)]

    def steps(opt, params, grads):
        for gs in grads:
            for p, grad in zip(params, gs):
                p.grad = grad.clone()
            opt.step()

    steps(straight, straight.param_groups[0]["params"], grads)
    steps(opt, list(model), grads[:3])
    artifacts.save_checkpoint(tmp_path / "c.safetensors", model, opt, epoch=0)
    model2 = torch.nn.ParameterList(params())
    opt2 = second(model2.parameters(), **({"fused": True} if second is torch.optim.Adam else {}))
    artifacts.load_checkpoint(tmp_path / "c.safetensors", model2, opt2)
    assert opt2.param_groups[0]["lr"] == 2e-3
    steps(opt2, list(model2), grads[3:])
    for p, q in zip(straight.param_groups[0]["params"], model2):
        assert torch.equal(p, q)


def test_a_state_for_other_parameters_is_refused():
    ours = Adam(params())
    other = torch.optim.Adam([torch.nn.Parameter(torch.zeros(5, 3)), torch.nn.Parameter(torch.zeros(4)),
                              torch.nn.Parameter(torch.zeros(2, 4, 4))], fused=True)
    for p in other.param_groups[0]["params"]:
        p.grad = torch.ones_like(p)
    other.step()
    with pytest.raises(ValueError, match="another shape"):
        ours.load_state_dict(other.state_dict())
    with pytest.raises(ValueError, match="other parameters"):
        ours.load_state_dict({"state": {}, "param_groups": [{**ours.state_dict()["param_groups"][0], "params": [0]}]})
    amsgrad = torch.optim.Adam(params(), amsgrad=True)
    with pytest.raises(ValueError, match="AMSGrad"):
        ours.load_state_dict(amsgrad.state_dict())
