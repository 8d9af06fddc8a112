"""Worker entry point for the ``horovodrun`` backend of :func:`smspark.train.launcher.run_distributed`.

Usage (one process per rank, started by ``horovodrun``): ``python -m smspark.train._hvd_entry <workdir>``.
Loads ``(fn, args)`` from ``<workdir>/payload.pkl``, runs ``fn(*args)`` and cloudpickles the return value to
``<workdir>/result-<rank>.pkl``; on an exception writes the traceback to ``<workdir>/error-<rank>.txt`` and exits
with status 1. The rank comes from ``HOROVOD_RANK``, which horovodrun sets for every process.
"""

from __future__ import annotations

import os
import sys
import traceback
from pathlib import Path

import smspark  # noqa: F401  (sets TF_USE_LEGACY_KERAS before fn can import TensorFlow)
from smspark.train.launcher import ERROR_FILE, PAYLOAD_FILE, RESULT_FILE


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print("usage: python -m smspark.train._hvd_entry <workdir>", file=sys.stderr)
        return 2
    import cloudpickle

    workdir = Path(argv[0])
    rank = int(os.environ.get("HOROVOD_RANK", "0"))
    try:
        with open(workdir / PAYLOAD_FILE, "rb") as f:
            fn, args = cloudpickle.load(f)
        result = fn(*args)
        tmp = workdir / (RESULT_FILE.format(rank=rank) + ".tmp")
        with open(tmp, "wb") as f:
            cloudpickle.dump(result, f)
        tmp.replace(workdir / RESULT_FILE.format(rank=rank))
    except BaseException:
        (workdir / ERROR_FILE.format(rank=rank)).write_text(traceback.format_exc())
        traceback.print_exc()
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
