"""A module's parameters as views into one flat tensor, so one optimiser call updates all."""

from __future__ import annotations

import torch


class FlatParameters:
    """All parameters of a module as views into one flat tensor, gradients into another.

    Adam is elementwise, so one Adam over the flat vector is exactly Adam over every
    parameter, but it costs one small call per step instead of one per tensor, and zeroing
    the gradients is one ``zero_`` (the per-tensor bookkeeping is a visible share of a step
    of this small MLP on the CPU). Autograd accumulates into the existing ``.grad`` views.
    :meth:`release` gives every parameter its own storage back.
    """

    def __init__(self, module: torch.nn.Module) -> None:
        self.params = list(module.parameters())
        ref = self.params[0]
        total = sum(p.numel() for p in self.params)
        data = torch.empty(total, dtype=ref.dtype, device=ref.device)
        self.grad = torch.zeros(total, dtype=ref.dtype, device=ref.device)
        offset = 0
        with torch.no_grad():
            for p in self.params:
                n = p.numel()
                data[offset : offset + n].copy_(p.reshape(-1))
                p.data = data[offset : offset + n].view_as(p)
                p.grad = self.grad[offset : offset + n].view_as(p)
                offset += n
        self.flat = torch.nn.Parameter(data)
        self.flat.grad = self.grad

    def adam(self, lr: float) -> torch.optim.Adam:
        """Fused Adam over the flat vector: the update of Adam over every parameter."""
        return torch.optim.Adam([self.flat], lr=lr, fused=True)

    def zero_grad(self) -> None:
        self.grad.zero_()

    def release(self) -> None:
        with torch.no_grad():
            for p in self.params:
                p.data = p.data.clone()
                p.grad = None
