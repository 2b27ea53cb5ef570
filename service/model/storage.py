"""Model weights on disk as per-row int8 with float scales: a quarter of fp32, so the
shipped model stays small in git. Small tensors (biases, LayerNorm) stay fp32."""
from __future__ import annotations

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
    raw = load_file(str(path))
    state = {}
    for k, v in raw.items():
        if k.endswith(_SCALE):
            continue
        state[k] = v.to(torch.float32) * raw[k + _SCALE] if k + _SCALE in raw else v
    return state
