"""Warn when the fixed development pseudonymisation key meets data that is not the fetched sample data.

The local profile's development key is public (it is in the repository), so anyone can reverse its pseudonyms by
hashing candidate handles or ids: fine for the public samples ``smspark fetch-samples`` writes, not for anything
else. :func:`check` lists the landing files that ``<landing>/_SOURCES.json`` does not record as sample outputs;
when the development key is in use and there are any, it logs a warning and records it in the run manifest.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

from smspark import storage
from smspark.sources.common import SOURCES_FILE

log = logging.getLogger(__name__)


def uses_dev_key(cfg: Any) -> bool:
    """Whether pseudonymisation would fall back to the profile's development key (no key in the environment)."""
    return bool(cfg.privacy.dev_key) and not os.environ.get(cfg.privacy.key_env)


def non_sample_files(landing: Path) -> list[str]:
    """Landing files (relative POSIX paths) not under an output that ``_SOURCES.json`` records; all of them when
    there is no ``_SOURCES.json``."""
    outputs: list[str] = []
    sources = landing / SOURCES_FILE
    if sources.is_file():
        for ds in json.loads(sources.read_text()).get("datasets", {}).values():
            outputs += [o["path"].rstrip("/") for o in ds.get("outputs", []) if "path" in o]
    files = [p.relative_to(landing).as_posix() for p in landing.rglob("*") if p.is_file() and p.name != SOURCES_FILE]
    return sorted(f for f in files if not any(f == o or f.startswith(o + "/") for o in outputs))


def check(ctx: Any) -> list[str]:
    """Warn (log + manifest ``warnings``) when the development key meets non-sample landing files; returns them."""
    local = storage.local_path(ctx.layout.landing)
    if not uses_dev_key(ctx.cfg) or local is None or not Path(local).is_dir():
        return []
    others = non_sample_files(Path(local))
    if others:
        message = (
            f"pseudonymising {len(others)} landing file(s) that are not the fetched sample data (e.g. {others[0]}) "
            f"with the public development key: their pseudonyms are reversible; set {ctx.cfg.privacy.key_env}"
        )
        log.warning(message)
        ctx.manifest.data.setdefault("warnings", []).append(message)
    return others
