"""A console a person can read: native start-up noise filtered out on CPU machines, handled py4j retries without
tracebacks, progress bars only on a terminal.

TensorFlow's CPU wheel registers its CUDA plugins at import and reports, from C++ and before its logging is set up,
``Unable to register cuDNN factory ...`` and friends; ``TF_CPP_MIN_LOG_LEVEL`` does not reach those lines. Every
process that imports TensorFlow prints them: the driver, each Horovod worker, each Spark Python worker. On a machine
without an NVIDIA device, :func:`filter_native_stderr` puts a filter on file descriptor 2 of the job's process; the
processes it starts (the Spark JVM and its Python workers, Horovod workers) inherit that descriptor, so one filter
covers the whole local process tree. It drops only the lines matched by :data:`NOISE`; everything else, tracebacks
included, passes through unchanged. ``SMSPARK_RAW_STDERR=1`` turns it off.
"""

from __future__ import annotations

import atexit
import glob
import logging
import os
import re
import sys
import threading

#: Start-up lines of TensorFlow/XLA/absl on a CPU-only machine, each harmless there.
NOISE = re.compile(
    r"Unable to register cu(?:FFT|DNN|BLAS) factory"
    r"|All log messages before absl::InitializeLog\(\) is called are written to STDERR"
    r"|computation_placer\.cc:\d+\] computation placer already registered"
    r"|oneDNN custom operations are on"
    r"|This TensorFlow binary is optimized to use available CPU instructions"
    r"|To enable the following instructions: .* in other operations, rebuild TensorFlow"
    r"|TF-TRT Warning: Could not find TensorRT"
    r"|Could not find cuda drivers on your machine"
    r"|failed call to cuInit"
    r"|oneDNN supports DT_BOOL only on platforms with AVX-512"
)

#: Set (to "1") in the environment when the job's stderr was a terminal before the filter replaced it.
TTY_ENV = "SMSPARK_STDERR_TTY"

_state: dict[str, object] = {}


def has_gpu() -> bool:
    """Whether an NVIDIA device is visible (``/dev/nvidia<N>``, and not hidden by ``CUDA_VISIBLE_DEVICES``)."""
    if os.environ.get("CUDA_VISIBLE_DEVICES", None) in ("", "-1"):
        return False
    return bool(glob.glob("/dev/nvidia[0-9]*"))


def stderr_is_tty() -> bool:
    """Whether the job's stderr is (or was, before :func:`filter_native_stderr`) a terminal."""
    return os.environ.get(TTY_ENV) == "1" or (TTY_ENV not in os.environ and sys.stderr.isatty())


def is_noise(line: str) -> bool:
    """Whether a console line is start-up noise of :data:`NOISE`."""
    return bool(NOISE.search(line))


def _pump(read_fd: int, out_fd: int) -> None:
    pending = b""
    while True:
        try:
            chunk = os.read(read_fd, 65536)
        except OSError:
            break
        if not chunk:
            break
        pending += chunk
        *lines, pending = pending.split(b"\n")
        kept = [ln for ln in lines if not is_noise(ln.decode("utf-8", "replace"))]
        data = b"".join(ln + b"\n" for ln in kept)
        if b"\r" in pending:  # a progress bar redrawing its line: pass it through now
            data, pending = data + pending, b""
        if data:
            os.write(out_fd, data)
    if pending and not is_noise(pending.decode("utf-8", "replace")):
        os.write(out_fd, pending)


def filter_native_stderr(force: bool = False) -> bool:
    """Replace file descriptor 2 by a pipe whose lines are copied to the real stderr without :data:`NOISE`.

    Does nothing when a GPU is visible (the lines may matter there), when ``SMSPARK_RAW_STDERR=1``, or when already
    installed, unless ``force``. Returns whether the filter is (now) installed. At exit the real stderr is put back
    and the remaining lines are flushed.
    """
    if "thread" in _state:
        return True
    if not force and (has_gpu() or os.environ.get("SMSPARK_RAW_STDERR") == "1"):
        return False
    os.environ.setdefault(TTY_ENV, "1" if sys.stderr.isatty() else "0")
    sys.stderr.flush()
    real = os.dup(2)
    read_fd, write_fd = os.pipe()
    os.dup2(write_fd, 2)
    os.close(write_fd)
    thread = threading.Thread(target=_pump, args=(read_fd, real), name="stderr-filter", daemon=True)
    thread.start()
    _state.update(thread=thread, real=real, read=read_fd)
    atexit.register(restore_stderr)
    return True


def restore_stderr(timeout: float = 2.0) -> None:
    """Put the real stderr back on descriptor 2 and let the filter drain (what child processes still hold open is
    cut off after ``timeout`` seconds)."""
    thread = _state.pop("thread", None)
    if thread is None:
        return
    sys.stderr.flush()
    real = int(_state.pop("real"))  # type: ignore[arg-type]
    os.dup2(real, 2)  # the pipe's write end is now held only by children still running
    thread.join(timeout)  # type: ignore[attr-defined]
    _state.pop("read", None)


class HandledPy4jRetry(logging.Filter):
    """Drops py4j's ``Exception while sending command.`` records below WARNING: py4j logs them with a traceback on
    the root logger when it reconnects and retries a command (e.g. after Horovod's rendezvous restarts a Python
    worker), a condition it handles itself."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.levelno < logging.WARNING and f"{os.sep}py4j{os.sep}" in (record.pathname or ""))
