"""The models' scorecard printed at the end of a job that trained: per model, the validation selection metric of
the new version, its champion and its baselines, the same metric on test, whether it beats its baselines, and what
happened to the ``champion`` alias. Read from the run manifest's ``models.<name>`` records (written by
:func:`smspark.train.lifecycle.run_lifecycle`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def _fmt(value: Any) -> str:
    return "-" if value is None else f"{float(value):.4f}"


def scorecard(models: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """One header and one line per trained model. Columns: model, selection metric, the new version's figure on
    val / test, the best baseline on val (its name, val / test), the old champion re-measured on the same splits
    (val / test, ``-`` when there was none), whether the new version beats every baseline on test (``yes`` /
    ``NO`` / ``n/a``), and the champion alias after the run with the reason it moved or stayed.

    Args:
        models: the manifest's ``models`` mapping; records without ``selection`` (models not trained) are skipped.

    Returns:
        Lines of text (empty when no model was trained).
    """
    rows = []
    for name, rec in models.items():
        sel = rec.get("selection")
        if not sel:
            continue
        metric = sel["metric"]
        val, test = rec.get("val") or {}, rec.get("test") or {}
        candidate = next((k for k in test if k != "champion" and k not in sel.get("baselines", {})), None)
        cand = f"{_fmt(sel['candidate'])} / {_fmt((test.get(candidate) or {}).get(metric))}"
        base = "-"
        bases = {b: v for b, v in sel.get("baselines", {}).items() if v is not None}
        if bases:
            pick = max if sel.get("higher_is_better", True) else min
            b = pick(bases, key=lambda k: bases[k])
            base = f"{b} {_fmt((val.get(b) or {}).get(metric))} / {_fmt((test.get(b) or {}).get(metric))}"
        champ = f"{_fmt(sel.get('champion'))} / {_fmt((test.get('champion') or {}).get(metric))}"
        beats = {True: "yes", False: "NO", None: "n/a"}[rec.get("beats_baseline")]
        ch = rec.get("champion", {})
        alias = f"v{ch.get('champion_version')}: {ch.get('reason', '')}"
        arrow = "lower is better" if not sel.get("higher_is_better", True) else ""
        rows.append((name, f"{metric} {arrow}".strip(), cand, base, champ, beats, alias))
    if not rows:
        return []
    header = ("model", "metric (val / test)", "new version", "best baseline", "old champion", "beats", "champion")
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header) - 1)]
    return ["  ".join(c.ljust(w) for c, w in zip(r[:-1], widths, strict=True)) + "  " + r[-1] for r in [header, *rows]]
