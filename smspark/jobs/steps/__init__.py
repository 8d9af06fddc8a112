"""Job steps by data domain: each module holds the I/O-doing step functions of one domain
(``posts``, ``interactions``, ``media``, ``messages``) that the stage jobs (``ingest``, ``etl``, ``features``,
``train``, ``score``) look up by name. A step takes a :class:`smspark.jobs.common.JobContext` and returns the fields
of its stage record in the run manifest (``inputs``, ``outputs``, ``counts``, ...).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from smspark import storage
from smspark.jobs.common import UserError


def resolve(ref: str) -> Callable[..., Any]:
    """``"smspark.jobs.steps.posts:ingest"`` -> the function.

    Raises:
        UserError: the module or function is not available in this installation.
    """
    module, _, name = ref.partition(":")
    try:
        return getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError) as exc:
        raise UserError(f"step {ref} is not available: {exc}") from exc


def run_steps(
    ctx: Any, stage: str, registry: dict[str, tuple[str, str]], names: list[str] | None, default_root: Any
) -> list[str]:
    """Run ``registry`` steps as manifest stages ``<stage>.<name>``.

    ``registry`` maps a name to ``(input folder under the default_root URI, step reference)``; with no ``names``
    every step whose input folder exists runs. Each stage record names the processes that ran it. Returns the names
    run.

    Raises:
        UserError: an unknown name, or nothing to run.
    """
    chosen = names or [n for n, (folder, _) in registry.items() if storage.exists(storage.join(default_root, folder))]
    if not chosen:
        raise UserError(f"nothing to {stage}: no input under {default_root}")
    for name in chosen:
        if name not in registry:
            raise UserError(f"unknown {stage} step {name!r}; known: {', '.join(registry)}")
        with ctx.manifest.stage(f"{stage}.{name}") as rec:
            rec.update(resolve(registry[name][1])(ctx))
            ctx.record_processes(rec)
    return chosen


def names_arg(value: str) -> list[str]:
    """Comma-separated names (``--tables posts,interactions``)."""
    return [v for v in value.split(",") if v]
