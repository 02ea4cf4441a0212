"""Numeric precision of a stage: which dtype the weights are held in, and whether the forward
passes run under bf16 autocast.

``training.precision``, ``generation.precision`` and ``attribution.precision`` each take

* ``fp32``: fp32 weights, fp32 compute;
* ``bf16-mixed``: fp32 (master) weights, matmuls under ``torch.autocast(dtype=bfloat16)``; on a
  CPU with native bf16 (AVX512-BF16 or AMX) faster than fp32 (how much: ``benchmarks/cpu_stack.py``);
* ``bf16``: bf16 weights (half the memory; GPUs);
* ``auto``: ``bf16`` on CUDA with bf16 support, ``bf16-mixed`` on a CPU that supports bf16
  natively (the CPU's capability is checked, not the model), ``fp32`` elsewhere.

QLoRA keeps its 4-bit base whatever the precision; the precision sets its compute dtype.

    >>> p = resolve("fp32", torch.device("cpu"))
    >>> p.name, p.weights_dtype, p.autocast_dtype
    ('fp32', torch.float32, None)
    >>> with p.autocast():
    ...     pass
"""

from __future__ import annotations

import contextlib
import weakref
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import get_args

import torch

from ccattr.config import PrecisionSetting

__all__ = ["FP32", "PRECISIONS", "Precision", "cpu_supports_bf16", "resolve"]

PRECISIONS: tuple[str, ...] = get_args(PrecisionSetting)


@cache
def cpu_supports_bf16() -> bool:
    """Does this CPU compute in bf16 natively (AVX512-BF16 or AMX)? Without it, bf16 autocast on
    a CPU is emulated and slower than fp32."""
    probe = getattr(torch.cpu, "_is_avx512_bf16_supported", None)
    if probe is not None and probe():
        return True
    amx = getattr(torch.cpu, "_is_amx_tile_supported", None)
    if amx is not None and amx():
        return True
    try:  # older torch: read the kernel's flags
        flags = Path("/proc/cpuinfo").read_text().split()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


@dataclass(frozen=True)
class Precision:
    """A resolved precision: ``name`` is ``fp32``, ``bf16-mixed`` or ``bf16``; ``reason`` says why
    ``auto`` chose it (logged with the run)."""

    name: str
    device_type: str
    reason: str = ""

    @property
    def weights_dtype(self) -> torch.dtype:
        return torch.bfloat16 if self.name == "bf16" else torch.float32

    @property
    def autocast_dtype(self) -> torch.dtype | None:
        return torch.bfloat16 if self.name == "bf16-mixed" else None

    @property
    def compute_dtype(self) -> torch.dtype:
        """The dtype matmuls run in (QLoRA's ``bnb_4bit_compute_dtype``)."""
        return torch.float32 if self.name == "fp32" else torch.bfloat16

    @contextlib.contextmanager
    def autocast(self, model: torch.nn.Module | None = None) -> Iterator[None]:
        """``torch.autocast`` for ``bf16-mixed``; nothing otherwise.

        With ``model``, on a CPU, with gradients off, its fp32 ``nn.Linear`` weights are also
        swapped for bf16 copies while inside (see :func:`_linears_cast`): same results, bit for
        bit, with the weight casts paid once instead of on every call. The copies are kept
        (half the fp32 weights' memory again), so not on accelerators, where memory is the
        scarce resource and ``auto`` holds the weights in bf16 anyway."""
        if self.autocast_dtype is None:
            yield
            return
        with torch.autocast(device_type=self.device_type, dtype=self.autocast_dtype), \
                _linears_cast(model if self.device_type == "cpu" else None, self.autocast_dtype):
            yield

    def tags(self, prefix: str) -> dict[str, str]:
        """MLflow tags: ``<prefix>_precision`` and why ``auto`` chose it."""
        out = {f"{prefix}_precision": self.name}
        if self.reason:
            out[f"{prefix}_precision_reason"] = self.reason
        return out


# Each Linear's low-precision weight, with the (storage, version) of the fp32 weight it was made
# from; weak keys, so the copies go with their model.
_CAST_CACHE: weakref.WeakKeyDictionary[torch.nn.Module, tuple[int, int, torch.nn.Parameter]] = \
    weakref.WeakKeyDictionary()


@contextlib.contextmanager
def _linears_cast(model: torch.nn.Module | None, dtype: torch.dtype) -> Iterator[None]:
    """Give ``model``'s ``nn.Linear`` layers ``dtype`` copies of their fp32 weights while inside
    (under autocast, with gradients off: no fp32 gradient is owed to them).

    Autocast casts a Linear's fp32 weight to ``dtype`` on every call; a copy cast once rounds
    the same way, so every output is bitwise unchanged. On a CPU those casts cost about a sixth
    of a small model's batched forward (SmolLM2-135M, 2 threads) and about two fifths of greedy
    decoding, where the output layer's 49152 x 576 weight was cast at every step. The layer's
    parameter is swapped, not its data, so an embedding tied to the output layer keeps its fp32
    weight (its lookup is not autocast; the residual stream stays fp32). A copy is remade when
    its weight's storage or version changes (a training step, a load).
    """
    if model is None or torch.is_grad_enabled():
        yield
        return
    swapped: list[tuple[torch.nn.Module, torch.nn.Parameter]] = []
    try:
        for m in model.modules():
            w = m._parameters.get("weight") if isinstance(m, torch.nn.Linear) else None
            if w is None or w.dtype != torch.float32:
                continue
            key = (w.data_ptr(), w._version)
            hit = _CAST_CACHE.get(m)
            if hit is None or hit[:2] != key:
                hit = _CAST_CACHE[m] = (*key, torch.nn.Parameter(w.detach().to(dtype), requires_grad=False))
            swapped.append((m, w))
            m._parameters["weight"] = hit[2]
        yield
    finally:
        for m, w in swapped:
            m._parameters["weight"] = w


#: Plain fp32 on the CPU (what tests and exactness checks use).
FP32 = Precision("fp32", "cpu")


def resolve(setting: str, device: torch.device) -> Precision:
    """The precision ``setting`` (:data:`PRECISIONS`) means on ``device``."""
    if setting not in PRECISIONS:
        raise ValueError(f"unknown precision {setting!r}; expected one of {', '.join(PRECISIONS)}")
    kind = device.type
    if setting != "auto":
        return Precision(setting, kind)
    if kind == "cuda" and torch.cuda.is_bf16_supported():
        return Precision("bf16", kind, "auto: CUDA with bf16")
    if kind == "cpu" and cpu_supports_bf16():
        return Precision("bf16-mixed", kind, "auto: the CPU computes bf16 natively (AVX512-BF16/AMX)")
    return Precision("fp32", kind, f"auto: no native bf16 on this {kind}")
