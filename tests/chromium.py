"""Headless Chromium for the report tests: installed from Debian when missing, started and stopped by exact pid.

:func:`render_page` loads a local HTML file twice: once for a screenshot, once with ``--dump-dom`` on a copy that
carries a probe script (the report itself has no script), which writes what the browser decoded -- for every
``<img>``: ``complete`` and ``naturalWidth`` -- into the DOM that Chromium prints.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
from pathlib import Path

import pytest

FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
]

PROBE = """<script>
window.addEventListener("load", () => {
  const imgs = Array.from(document.images).map(i => ({alt: i.alt, complete: i.complete, width: i.naturalWidth}));
  const out = document.createElement("pre");
  out.id = "probe";
  out.textContent = JSON.stringify({images: imgs, text: document.body.innerText.length});
  document.body.appendChild(out);
});
</script>"""


def chromium() -> str:
    """Path of the ``chromium`` binary; installs Debian's ``chromium`` when missing (as root). Skips outside CI
    when it cannot be installed, fails in CI."""
    found = shutil.which("chromium")
    if found:
        return found
    if hasattr(os, "geteuid") and os.geteuid() == 0 and shutil.which("apt-get"):
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "update", "-qq"], check=False, env=env, capture_output=True, timeout=600)
        subprocess.run(
            ["apt-get", "install", "-y", "-qq", "chromium"], check=False, env=env, capture_output=True, timeout=1200
        )
        found = shutil.which("chromium")
        if found:
            return found
    message = "Debian's chromium is not installed and could not be installed (apt-get install -y chromium)"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


def _run(args: list[str], timeout: float) -> subprocess.CompletedProcess:
    """Run Chromium in its own process group and stop exactly that group (the browser and the helpers it forked)
    if it is still running when done or on timeout."""
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        out, err = b"", b"timeout"
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # the group created for this browser only
        except ProcessLookupError:
            pass
        proc.wait()
    return subprocess.CompletedProcess(args, proc.returncode, out, err)


def render_page(html: Path, screenshot: Path, profile: Path, width: int = 1280, height: int = 4000) -> dict:
    """Screenshot ``html`` to ``screenshot`` and return the probe's findings: ``images`` (alt, complete, width)
    and ``text`` (characters of visible text)."""
    exe = chromium()
    common = [exe, *FLAGS, f"--user-data-dir={profile}", f"--window-size={width},{height}"]
    shot = _run([*common, f"--screenshot={screenshot}", html.as_uri()], timeout=180)
    assert screenshot.exists(), f"no screenshot: {shot.stderr.decode(errors='replace')[-2000:]}"
    probed = html.with_name(html.stem + ".probe.html")
    probed.write_text(html.read_text().replace("</body>", PROBE + "</body>"))
    dom = _run([*common, "--virtual-time-budget=10000", "--dump-dom", probed.as_uri()], timeout=180)
    text = dom.stdout.decode(errors="replace")
    start = text.find('<pre id="probe">')
    assert start >= 0, f"the probe did not run: {dom.stderr.decode(errors='replace')[-2000:]}"
    payload = text[start + len('<pre id="probe">') : text.find("</pre>", start)]
    return json.loads(payload.replace("&quot;", '"').replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&"))


def blank_fraction(png: Path) -> float:
    """Fraction of the screenshot's pixels that are (almost) white."""
    import numpy as np
    from PIL import Image

    arr = np.asarray(Image.open(png).convert("L"))
    return float((arr > 245).mean())
