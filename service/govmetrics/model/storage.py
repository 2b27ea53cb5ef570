"""Model weights on disk as per-row int8 with float scales: a quarter of fp32, so the
shipped model stays small in git. Small tensors (biases, LayerNorm) stay fp32."""
from __future__ import annotations

import warnings
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

_SCALE = ".__int8_scale"
_MIN_NUMEL = 4096


def save_int8(state: dict[str, torch.Tensor], path: Path) -> None:
    out: dict[str, torch.Tensor] = {}
    for k, w in state.items():
        w = w.detach().to(torch.float32).cpu()
        if w.dim() == 2 and w.numel() >= _MIN_NUMEL:
            scale = (w.abs().amax(dim=1, keepdim=True) / 127.0).clamp(min=1e-12)
            out[k] = torch.round(w / scale).clamp(-127, 127).to(torch.int8).contiguous()
            out[k + _SCALE] = scale.contiguous()
        else:
            out[k] = w.contiguous()
    save_file(out, str(path))


def load_int8(path: Path) -> dict[str, torch.Tensor]:
    return load_int8_with_scales(path)[0]


def load_int8_with_scales(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """fp32 weights, and for each int8-stored weight its per-row scales ([rows, 1])."""
    raw = load_file(str(path))
    state, scales = {}, {}
    for k, v in raw.items():
        if k.endswith(_SCALE):
            continue
        if k + _SCALE in raw:
            scales[k] = raw[k + _SCALE]
            state[k] = v.to(torch.float32) * scales[k]
        else:
            state[k] = v
    return state, scales


class Int8Linear(torch.nn.Module):
    """A Linear layer on the stored per-row int8 weights, with int8 activations quantized on the fly.

    Packing the stored int8 rows directly is both faster to load than
    `torch.ao.quantization.quantize_dynamic` (which re-quantizes every weight) and
    closer to the trained weights (per row rather than one scale per matrix).
    """

    def __init__(self, weight: torch.Tensor, scale: torch.Tensor, bias: torch.Tensor | None) -> None:
        super().__init__()
        rows = weight.shape[0]
        with warnings.catch_warnings():  # torch marks quantized tensors deprecated, not removed
            warnings.simplefilter("ignore")
            q = torch.quantize_per_channel(weight.detach(), scale.reshape(rows).to(torch.float64),
                                           torch.zeros(rows, dtype=torch.long), 0, torch.qint8)
        self.out_features = rows
        self._packed = torch.ops.quantized.linear_prepack(q, None if bias is None else bias.detach())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = torch.ops.quantized.linear_dynamic(x.reshape(-1, x.shape[-1]), self._packed, True)
        return y.reshape(*x.shape[:-1], self.out_features)


def int8_linears(model: torch.nn.Module, scales: dict[str, torch.Tensor]) -> torch.nn.Module:
    """Swap every Linear whose weight was stored as int8 for an `Int8Linear` (in place)."""
    for name, module in list(model.named_modules()):
        if isinstance(module, torch.nn.Linear) and f"{name}.weight" in scales:
            parent, _, child = name.rpartition(".")
            owner = model.get_submodule(parent) if parent else model
            setattr(owner, child, Int8Linear(module.weight, scales[f"{name}.weight"], module.bias))
    return model
