"""The Keras dtype policy a model trains with: float32, or bfloat16 compute with float32 weights.

``mixed_bfloat16`` (Keras mixed precision: variables stay float32, layers compute in bfloat16, the optimizer updates
float32 weights; no loss scaling is needed, bfloat16 has float32's exponent range) runs convolutions and matrix
products on a CPU's AMX tiles through oneDNN. Measured on this project's 2-core development machine (an Intel Xeon
with ``amx_bf16``; docs/RESULTS.md, "Mixed precision"): the image CNN trains 1.57x faster on two Horovod workers
(Fashion-MNIST, 10 epochs: 211 s instead of 330 s) with test macro-F1 0.9205 instead of 0.9209, so ``models.image``
defaults to ``auto``; the Kim CNNs of sentiment and spam compute 2x faster in one process but their workers' epochs
took as long as in float32, and the GAN's transposed convolutions are slower in bfloat16, so those stay float32.
A CPU without AMX would emulate bfloat16, slower than float32: ``auto`` asks for bfloat16 only where the CPU reports
``amx_bf16`` (``/proc/cpuinfo``), else float32.

A model's output layers are float32 in either policy (``dtype="float32"``): probabilities, and embeddings that are
compared by distance, keep float32 precision.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

#: Settings a model section's ``precision`` may take.
PRECISIONS = ("auto", "float32", "mixed_bfloat16")

#: The CPU flag (Linux ``/proc/cpuinfo``) of AMX bfloat16 tiles.
AMX_BF16_FLAG = "amx_bf16"


def cpu_flags(cpuinfo: str | Path = "/proc/cpuinfo") -> frozenset[str]:
    """The first processor's feature flags in ``cpuinfo`` (e.g. ``{"avx2", "amx_bf16", ...}``); empty when the
    file cannot be read (another OS) or has no ``flags`` line."""
    try:
        text = Path(cpuinfo).read_text(errors="replace")
    except OSError:
        return frozenset()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "flags":
            return frozenset(value.split())
    return frozenset()


def resolve_precision(setting: str, flags: frozenset[str] | None = None) -> str:
    """The Keras dtype policy name for a ``precision`` setting.

    Args:
        setting: ``auto``, ``float32`` or ``mixed_bfloat16``.
        flags: the CPU's feature flags (default: :func:`cpu_flags` of this machine).

    Returns:
        ``"float32"`` or ``"mixed_bfloat16"``; ``auto`` gives ``mixed_bfloat16`` when ``flags`` hold ``amx_bf16``.

    Raises:
        ValueError: another setting.
    """
    if setting not in PRECISIONS:
        raise ValueError(f"unknown precision {setting!r}: one of {', '.join(PRECISIONS)}")
    if setting != "auto":
        return setting
    flags = cpu_flags() if flags is None else flags
    return "mixed_bfloat16" if AMX_BF16_FLAG in flags else "float32"


@contextlib.contextmanager
def dtype_policy(name: str) -> Iterator[None]:
    """Set the global tf_keras dtype policy to ``name`` (``float32``, ``mixed_bfloat16``, ...) inside the block and
    restore the previous one after it, also on error. Layers take the policy when they are built; a built model
    keeps it (and so does its saved file)."""
    import tf_keras

    before = tf_keras.mixed_precision.global_policy()
    tf_keras.mixed_precision.set_global_policy(name)
    try:
        yield
    finally:
        tf_keras.mixed_precision.set_global_policy(before)
