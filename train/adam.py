"""Adam on the CPU as torch.optim.Adam(fused=True) computes it, bit for bit, without torch.optim around the kernel.

Why not torch.optim.Adam itself: its constructor imports torch._dynamo (0.8 s of a 3-epoch MNIST command of about
7 s, `python -X importtime -m train ...`), and each step()
spends about 0.15 ms of Python (hooks, grouping the tensors by device) around a kernel of 0.3 ms, on a step of 6 ms.
This class calls the same kernel, torch._fused_adam_, as torch.optim.Adam's fused path does, and keeps its state in
torch.optim's form: state_dict() and load_state_dict() read and write what torch.optim.Adam's do, so a checkpoint
made here resumes under torch.optim.Adam on a GPU, and back (tests/test_adam.py compares both, step by step).
"""
import torch


def fresh_state(p, step):
    """Adam's state before its first step, as torch.optim's fused Adam makes it; step: its counter, a float32 0-d
    tensor (here a view of the optimizer's one tensor of counters), set to 0."""
    return {"step": step.zero_(), "exp_avg": torch.zeros_like(p), "exp_avg_sq": torch.zeros_like(p)}


class Adam:
    """Adam (Kingma and Ba 2015) without weight decay or AMSGrad, on CPU parameters: torch.optim.Adam's interface
    as this project uses it (param_groups, state, step, zero_grad, state_dict, load_state_dict), and apply(grads)
    for a step whose gradients were computed without autograd (train/mlp_step.py)."""

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8):
        params = list(params)
        if any(p.device.type != "cpu" for p in params):
            raise ValueError("train.adam.Adam runs on the CPU; use torch.optim.Adam(fused=True) on a GPU")
        # torch.optim.Adam's defaults, as its state_dict() writes them
        self.param_groups = [{"lr": lr, "betas": tuple(betas), "eps": eps, "weight_decay": 0, "amsgrad": False,
                              "maximize": False, "foreach": None, "capturable": False, "differentiable": False,
                              "fused": True, "decoupled_weight_decay": False, "params": params}]
        # every parameter's step counter is a view of one tensor: one add a step, where torch._foreach_add_ on the
        # CPU adds to the counters one at a time (0.04 ms of a 3 ms step)
        self._steps = torch.zeros(len(params))
        self._one = torch.ones(())  # a Python 1 is made into a tensor at every add (~3 us)
        self.state = {p: fresh_state(p, self._steps[i]) for i, p in enumerate(params)}

    @property
    def params(self):
        return self.param_groups[0]["params"]

    @torch.no_grad()
    def apply(self, grads, params=None):
        """One Adam step with these gradients, one per parameter in order (of `params`, by default all of them)."""
        group = self.param_groups[0]
        params = self.params if params is None else params
        states = [self.state[p] for p in params]
        steps = [s["step"] for s in states]
        if params is self.params:
            self._steps.add_(self._one)
        else:
            torch._foreach_add_(steps, 1)
        torch._fused_adam_(params, list(grads), [s["exp_avg"] for s in states], [s["exp_avg_sq"] for s in states],
                           [], steps, amsgrad=False, lr=group["lr"], beta1=group["betas"][0],
                           beta2=group["betas"][1], weight_decay=0.0, eps=group["eps"], maximize=False,
                           grad_scale=None, found_inf=None)

    def step(self):
        """One Adam step with the parameters' .grad (a parameter without one is left alone, as torch.optim does)."""
        with_grad = [p for p in self.params if p.grad is not None]
        if with_grad:
            self.apply([p.grad for p in with_grad], with_grad)

    def zero_grad(self, set_to_none=True):
        for p in self.params:
            if set_to_none:
                p.grad = None
            elif p.grad is not None:
                p.grad.zero_()

    def state_dict(self):
        """torch.optim.Adam's form: parameters by their index, the group's settings."""
        group = {k: v for k, v in self.param_groups[0].items() if k != "params"}
        group["params"] = list(range(len(self.params)))
        return {"state": {i: dict(self.state[p]) for i, p in enumerate(self.params)}, "param_groups": [group]}

    @torch.no_grad()
    def load_state_dict(self, state_dict):
        """What state_dict() (or torch.optim.Adam's) wrote, for these same parameters in the same order."""
        (group,) = state_dict["param_groups"]
        if list(group["params"]) != list(range(len(self.params))):
            raise ValueError("the optimizer state belongs to another model (other parameters)")
        if group.get("amsgrad") or group.get("weight_decay") or group.get("maximize"):
            raise ValueError("the optimizer state was made with AMSGrad, weight decay or maximize, which this Adam "
                             "does not do")
        self.param_groups[0].update(lr=float(group["lr"]), betas=tuple(map(float, group["betas"])),
                                    eps=float(group["eps"]))
        for i, p in enumerate(self.params):
            saved = state_dict["state"].get(i)
            if saved is None:  # never stepped: Adam's fresh state
                self.state[p] = fresh_state(p, self._steps[i])
                continue
            if saved["exp_avg"].shape != p.shape or saved["exp_avg_sq"].shape != p.shape:
                raise ValueError(f"the optimizer state of parameter {i} has another shape than the parameter")
            self._steps[i] = torch.as_tensor(saved["step"], dtype=torch.float32).reshape(())
            self.state[p] = {"step": self._steps[i], "exp_avg": torch.empty_like(p).copy_(saved["exp_avg"]),
                             "exp_avg_sq": torch.empty_like(p).copy_(saved["exp_avg_sq"])}
