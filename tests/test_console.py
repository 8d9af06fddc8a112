"""The console filter: TensorFlow's CUDA start-up lines dropped, everything else kept, also from child processes."""

from __future__ import annotations

import logging
import subprocess
import sys

from smspark.console import HandledPy4jRetry, is_noise

CHILD = r"""
import subprocess, sys
from smspark.console import filter_native_stderr
assert filter_native_stderr(force=True)
print("E0000 00:00:1 cuda_dnn.cc:8310] Unable to register cuDNN factory: Attempting to register", file=sys.stderr)
print("a real warning", file=sys.stderr)
noise = "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR"
subprocess.run(["sh", "-c", f"echo '{noise}' >&2; echo 'child line' >&2"])
raise SystemExit("a real error")
"""


def test_filter_keeps_real_lines_from_the_process_and_its_children():
    out = subprocess.run([sys.executable, "-c", CHILD], capture_output=True, text=True, timeout=120)
    assert out.returncode == 1
    assert out.stderr.splitlines() == ["a real warning", "child line", "a real error"]


def test_noise_patterns():
    assert is_noise("[1]<stderr>:E0000 00:00:1 cuda_blas.cc:1418] Unable to register cuBLAS factory: x")
    assert is_noise("2026-11-22 07:23:40.080596: E external/.../cuda_fft.cc:477] Unable to register cuFFT factory: x")
    assert not is_noise("Traceback (most recent call last):")
    assert not is_noise("ERROR smspark.jobs: Unable to register the model")


def test_py4j_retry_record_is_dropped_but_warnings_kept():
    f = HandledPy4jRetry()
    rec = logging.LogRecord(
        "root",
        logging.INFO,
        "/x/site-packages/py4j/java_gateway.py",
        1056,
        "Exception while sending command.",
        None,
        None,
    )
    assert not f.filter(rec)
    rec.levelno = logging.ERROR
    assert f.filter(rec)
    assert f.filter(logging.LogRecord("smspark", logging.INFO, "/x/smspark/a.py", 1, "ok", None, None))
