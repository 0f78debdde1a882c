"""Adam for the policy and the curiosity module, with torch's multi-tensor kernels where this torch has them.

The update is torch.optim.Adam's (no weight decay, no amsgrad), and tests pin it to it. It is not a
torch.optim.Optimizer because constructing one imports torch._dynamo: about 1.5 s of start-up in
every process that trains, which is more than a short sweep trial's whole training on a CPU.

Three kernels, fastest first; each is used only where the one before it cannot run:

* `fused`: torch's fused Adam kernel (`torch._fused_adam_`, what torch.optim.Adam(fused=True) calls), one
  call for the whole update;
* `foreach`: the multi-tensor ops (`torch._foreach_*`), seven calls for every parameter at once;
* `public`: torch.optim.Adam itself (`foreach=False`), for a torch without those private ops. It costs
  the start-up above once, and takes the same steps (a test removes the private ops and compares).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import cast

import torch

FOREACH_OPS = (
    "_foreach_add_",
    "_foreach_lerp_",
    "_foreach_mul_",
    "_foreach_addcmul_",
    "_foreach_sqrt",
    "_foreach_div_",
    "_foreach_addcdiv_",
)


def available_kernel() -> str:
    """The fastest kernel this torch offers: private ops are not part of torch's API and may go."""
    if not all(hasattr(torch, op) for op in FOREACH_OPS):
        return "public"
    return "fused" if hasattr(torch, "_fused_adam_") else "foreach"


class Adam:
    """`param_groups[0]["lr"]` may be changed between steps (learning-rate annealing)."""

    def __init__(
        self,
        params: Iterable[torch.nn.Parameter],
        lr: float,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
    ):
        self.params: list[torch.Tensor] = [p for p in params if p.requires_grad]
        self.param_groups = [{"lr": float(lr)}]
        self.beta1, self.beta2 = betas
        self.eps = eps
        self.steps = [0] * len(self.params)  # per parameter: one without a gradient in a step is skipped
        # Moments and the fused kernel's step counters (float tensors, as torch.optim.Adam keeps them) are
        # made at the first step, like torch.optim's state: a module moved by .to() after its optimizer was
        # built (the curiosity module, to the GPU) gets them on its device and in its dtype.
        self.exp_avg: list[torch.Tensor] = []
        self.exp_avg_sq: list[torch.Tensor] = []
        self.step_tensors: list[torch.Tensor] = []
        # While every parameter takes every step, their counters hold one value: then they are one tensor per
        # device, listed here, and a step adds 1 to each of these once (not to a counter per parameter)
        self._shared_counters: list[torch.Tensor] | None = None
        self.kernel = available_kernel()
        self._public: torch.optim.Adam | None = None  # made at the first step of the `public` kernel

    def state_dict(self) -> dict:
        """The optimizer's moments, step counts and learning rate as plain data and CPU tensors (what a
        resumable checkpoint keeps; loadable with torch.load(weights_only=True)). The tensors are copies:
        on the CPU `.cpu()` alone would hand out the live ones, which the next step changes in place, and an
        optimizer loaded from the dict would then share its counters with this one."""
        return {
            "lr": float(self.param_groups[0]["lr"]),
            "steps": list(self.steps),
            "exp_avg": [t.detach().cpu().clone() for t in self.exp_avg],
            "exp_avg_sq": [t.detach().cpu().clone() for t in self.exp_avg_sq],
            "step_tensors": [t.detach().cpu().clone() for t in self.step_tensors],
        }

    def load_state_dict(self, state: dict) -> None:
        """Restore what state_dict() returned, onto the parameters' devices."""
        if len(state["steps"]) != len(self.params):
            raise ValueError(f"optimizer state holds {len(state['steps'])} parameters, this one {len(self.params)}")
        self.param_groups[0]["lr"] = float(state["lr"])
        self.steps = [int(n) for n in state["steps"]]
        devices = [p.device for p in self.params]
        self.exp_avg = [t.to(d) for t, d in zip(state["exp_avg"], devices, strict=False)]
        self.exp_avg_sq = [t.to(d) for t, d in zip(state["exp_avg_sq"], devices, strict=False)]
        self.step_tensors = [t.to(d) for t, d in zip(state["step_tensors"], devices, strict=False)]
        self._share_counters()

    def _share_counters(self) -> None:
        """One step counter per device for all parameters, where every parameter has taken the same steps."""
        self._shared_counters = None
        if not self.step_tensors or len(set(self.steps)) != 1:
            return
        by_device: dict[torch.device, torch.Tensor] = {}
        for t in self.step_tensors:
            by_device.setdefault(t.device, t)
        if any(t.dtype != torch.float32 or t.item() != float(self.steps[0]) for t in by_device.values()):
            return
        self.step_tensors = [by_device[t.device] for t in self.step_tensors]
        self._shared_counters = list(by_device.values())

    def zero_grad(self, set_to_none: bool = True) -> None:
        for p in self.params:
            if set_to_none:
                p.grad = None
            elif p.grad is not None:
                p.grad.zero_()

    @torch.no_grad()
    def step(self) -> None:
        live = [i for i, p in enumerate(self.params) if p.grad is not None]
        if not live:
            return
        if self.kernel == "public":
            self._public_step()
            return
        if not self.exp_avg:
            self.exp_avg = [torch.zeros_like(p, memory_format=torch.preserve_format) for p in self.params]
            self.exp_avg_sq = [torch.zeros_like(p, memory_format=torch.preserve_format) for p in self.params]
            self.step_tensors = [torch.zeros((), dtype=torch.float32, device=p.device) for p in self.params]
            self._share_counters()
        if self._shared_counters is not None and len(live) < len(self.params):
            # a parameter without a gradient skips this step: from here on each keeps its own count
            self.step_tensors = [t.clone() for t in self.step_tensors]
            self._shared_counters = None
        for i in live:
            self.steps[i] += 1
        counters = self._shared_counters or [self.step_tensors[i] for i in live]
        torch._foreach_add_(counters, 1.0)
        if self.kernel == "fused" and len(live) == len(self.params) and self._fused_step():
            return
        self._foreach_step(live)

    def _foreach_step(self, live: list[int]) -> None:
        # Parameters that have taken different numbers of steps get their own bias corrections.
        by_step: dict[int, list[int]] = {}
        for i in live:
            by_step.setdefault(self.steps[i], []).append(i)
        lr = self.param_groups[0]["lr"]
        for step, members in by_step.items():
            params = [self.params[i] for i in members]
            grads = [cast(torch.Tensor, self.params[i].grad) for i in members]  # live: each has one
            exp_avg = [self.exp_avg[i] for i in members]
            exp_avg_sq = [self.exp_avg_sq[i] for i in members]
            torch._foreach_lerp_(exp_avg, grads, 1 - self.beta1)
            torch._foreach_mul_(exp_avg_sq, self.beta2)
            torch._foreach_addcmul_(exp_avg_sq, grads, grads, 1 - self.beta2)
            bias_correction1 = 1 - self.beta1**step
            bias_correction2 = 1 - self.beta2**step
            denom = torch._foreach_sqrt(exp_avg_sq)
            torch._foreach_div_(denom, math.sqrt(bias_correction2))
            torch._foreach_add_(denom, self.eps)
            torch._foreach_addcdiv_(params, exp_avg, denom, -lr / bias_correction1)

    def _fused_step(self) -> bool:
        """The whole update in torch's fused kernel; False (and the `foreach` kernel from then on) where it
        cannot run, e.g. for a device or dtype the kernel does not support."""
        try:
            torch._fused_adam_(
                self.params,
                [cast(torch.Tensor, p.grad) for p in self.params],  # every one is live (step())
                self.exp_avg,
                self.exp_avg_sq,
                [],
                self.step_tensors,
                lr=self.param_groups[0]["lr"],
                beta1=self.beta1,
                beta2=self.beta2,
                weight_decay=0.0,
                eps=self.eps,
                amsgrad=False,
                maximize=False,
            )
        except (RuntimeError, TypeError, NotImplementedError):
            self.kernel = "foreach"
            return False
        return True

    def _public_step(self) -> None:
        """torch.optim.Adam's own step: its per-parameter state skips a parameter without a gradient and
        keeps that parameter's step count, as the kernels above do."""
        if self._public is None:
            self._public = torch.optim.Adam(
                self.params, lr=self.param_groups[0]["lr"], betas=(self.beta1, self.beta2), eps=self.eps, foreach=False
            )
        self._public.param_groups[0]["lr"] = self.param_groups[0]["lr"]
        self._public.step()


class GradClip:
    """torch.nn.utils.clip_grad_norm_(params, max_norm, foreach=True): the same ops in the same order, without
    its per-call grouping of the tensors by device and dtype (a third of the update's time outside the
    kernels at the default network). Built once per update: whether the parameters share one device and
    dtype (a parameter's gradient has its parameter's) is checked here, not per minibatch."""

    def __init__(self, params: Iterable[torch.nn.Parameter], max_norm: float):
        self.params = list(params)
        self.max_norm = float(max_norm)
        first = self.params[0] if self.params else torch.empty(0)
        # the private multi-tensor ops where this torch has them; torch's public clip otherwise
        self.has_ops = hasattr(torch, "_foreach_norm") and hasattr(torch, "_foreach_mul_")
        self.uniform = self.has_ops and all(p.device == first.device and p.dtype == first.dtype for p in self.params)

    @torch.no_grad()
    def __call__(self) -> torch.Tensor:
        """Scale the gradients in place; returns their total norm before clipping."""
        if not self.uniform:
            return torch.nn.utils.clip_grad_norm_(self.params, self.max_norm, foreach=True if self.has_ops else None)
        grads = [p.grad for p in self.params if p.grad is not None]
        if not grads:
            return torch.tensor(0.0)
        total_norm = torch.linalg.vector_norm(torch.stack(torch._foreach_norm(grads, 2.0)), 2.0)
        torch._foreach_mul_(grads, torch.clamp(self.max_norm / (total_norm + 1e-6), max=1.0))
        return total_norm
