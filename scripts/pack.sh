#!/usr/bin/env bash
# `make pack`: the smspark wheel and a packed Python environment that travels with spark-submit.
#
#   dist/smspark-<version>-py3-none-any.whl   the package (profiles inside it as package data)
#   dist/wheels/horovod-0.28.1-*.whl          the Horovod wheel compiled once by scripts/build_horovod.sh
#   dist/pack-venv/                           a fresh venv: the wheel installed from the file (not editable) with
#                                             its `local` extra, the exact pins of requirements/constraints.txt and
#                                             the Horovod wheel
#   dist/smspark-env.tar.gz                   that venv packed with venv-pack2, without pyspark (on a cluster the
#                                             executors take pyspark from the cluster's own Spark, SPARK_HOME) and
#                                             without TensorFlow's C++ headers (only for compiling; Horovod is built)
#   dist/pack-report.json                     sizes and how long each step took
#
# Use: spark-submit --archives dist/smspark-env.tar.gz#environment \
#        --conf spark.pyspark.python=./environment/bin/python jobs/nightly.py --conf cluster ...
# venv-pack2 does not pack the interpreter: every node needs the same Python 3.11 at the same path.
#
# Idempotent: the archive is rebuilt only when the sources, pyproject.toml, the constraints, this script or the
# Horovod wheel changed (a stamp next to it records their checksum); the fresh venv is remade only when
# pyproject.toml, the constraints or the Horovod wheel changed, else the new smspark wheel replaces the old one. Environment: VENV (default .venv, the development venv that
# builds; it needs venv-pack2, i.e. the `dev` extra), DIST (default dist), PACK_FORCE=1 to rebuild.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
VENV="${VENV:-.venv}"
DIST="${DIST:-dist}"
PY="$VENV/bin/python"
ENV_NAME=smspark-env
ARCHIVE="$DIST/$ENV_NAME.tar.gz"
PACK_VENV="$DIST/pack-venv"
log() { echo "[pack] $*"; }
die() { echo "[pack] ERROR: $*" >&2; exit 1; }
now() { date +%s.%N; }
[ -x "$PY" ] || die "no development venv at $VENV: run make setup first"
[ -x "$VENV/bin/venv-pack" ] || die "venv-pack2 is missing from $VENV (the dev extra): run make setup"
mkdir -p "$DIST/wheels"

t0=$(now)
bash scripts/build_horovod.sh --wheel "$VENV"
HVD_WHEEL="$(ls "$VENV"/wheels/horovod-0.28.1-*.whl | head -n1)"
[ -f "$HVD_WHEEL" ] || die "no Horovod wheel in $VENV/wheels"
cp -u "$HVD_WHEEL" "$DIST/wheels/"
t_hvd=$(now)

key="$( { find smspark -type f \( -name '*.py' -o -name '*.yaml' \) -print0 | sort -z | xargs -0 sha256sum;
          sha256sum pyproject.toml requirements/constraints.txt README.md scripts/pack.sh; basename "$HVD_WHEEL"; } | sha256sum | cut -c1-16)"
if [ "${PACK_FORCE:-0}" != "1" ] && [ -f "$ARCHIVE" ] && [ "$(cat "$ARCHIVE.stamp" 2>/dev/null)" = "$key" ] \
   && [ -x "$PACK_VENV/bin/smspark" ]; then
  log "up to date: $ARCHIVE ($(du -h "$ARCHIVE" | cut -f1)), $PACK_VENV (stamp $key)"
  exit 0
fi

LOG="$DIST/pack.log"
: > "$LOG"
quietly() { "$@" >> "$LOG" 2>&1 || { tail -n 40 "$LOG" >&2; die "failed: $* (full output: $LOG)"; }; }
log "building the smspark wheel"
rm -f "$DIST"/smspark-*.whl
quietly "$PY" -m pip wheel --disable-pip-version-check -q --no-deps -w "$DIST" .
WHEEL="$(ls "$DIST"/smspark-*.whl)"
t_wheel=$(now)

# The stack (everything but smspark) is reinstalled only when what decides it changed; otherwise the venv made
# fresh earlier gets the new wheel in place of the old one.
stack="$(sha256sum pyproject.toml requirements/constraints.txt | sha256sum | cut -c1-16)-$(basename "$HVD_WHEEL")"
if [ "$(cat "$PACK_VENV/.smspark-stack" 2>/dev/null)" = "$stack" ] && [ -x "$PACK_VENV/bin/python" ]; then
  log "reinstalling $(basename "$WHEEL") into $PACK_VENV (stack unchanged)"
  quietly "$PACK_VENV/bin/python" -m pip install --disable-pip-version-check -q --no-deps --force-reinstall "$WHEEL"
else
  log "fresh venv $PACK_VENV: $(basename "$WHEEL")[local] + the pinned stack + $(basename "$HVD_WHEEL")"
  BASE_PY="$("$PY" -c 'import sys; print(sys._base_executable)')"
  rm -rf "$PACK_VENV"
  "$BASE_PY" -m venv "$PACK_VENV"
  quietly "$PACK_VENV/bin/python" -m pip install --disable-pip-version-check -q -c requirements/constraints.txt \
    "$WHEEL[local]" "$HVD_WHEEL"
  echo "$stack" > "$PACK_VENV/.smspark-stack"
fi
# -I: not the checkout on sys.path, only the venv
"$PACK_VENV/bin/python" -I - 2>>"$LOG" <<'EOF'
import json, pathlib, importlib.metadata as md
import smspark, horovod.tensorflow as hvd
direct = md.distribution("smspark").read_text("direct_url.json")
assert not json.loads(direct or "{}").get("dir_info", {}).get("editable"), "smspark must not be editable here"
assert "site-packages" in smspark.__file__, smspark.__file__
assert hvd.gloo_built()
print("[pack] smspark", smspark.__version__, "from", pathlib.Path(smspark.__file__).parent, "| horovod gloo ok")
EOF
t_venv=$(now)

log "packing $ARCHIVE (venv-pack2, pyspark left out)"
rm -f "$ARCHIVE" "$ARCHIVE.stamp"
SITE="lib/python3.11/site-packages"
"$VENV/bin/venv-pack" -p "$PACK_VENV" -o "$ARCHIVE" --quiet \
  --exclude "$SITE/pyspark/*" --exclude "$SITE/pyspark-*.dist-info/*" --exclude "$SITE/tensorflow/include/*" \
  --exclude "bin/spark-*" \
  --exclude "bin/pyspark*" --exclude "bin/find-spark-home*" --exclude "bin/beeline*" --exclude "bin/load-spark-env*" \
  --exclude "bin/docker-image-tool.sh" --exclude "bin/run-example*" --exclude "bin/sparkR*"
t_pack=$(now)
echo "$key" > "$ARCHIVE.stamp"

"$PY" - "$DIST" "$ARCHIVE" "$PACK_VENV" "$WHEEL" "$HVD_WHEEL" "$t0" "$t_hvd" "$t_wheel" "$t_venv" "$t_pack" <<'EOF'
import json, os, sys, pathlib
dist, archive, venv, wheel, hvd, t0, t_hvd, t_wheel, t_venv, t_pack = sys.argv[1:]
t0, t_hvd, t_wheel, t_venv, t_pack = map(float, (t0, t_hvd, t_wheel, t_venv, t_pack))
size = lambda p: sum(f.stat().st_size for f in pathlib.Path(p).rglob("*") if f.is_file() and not f.is_symlink())
report = {
    "archive": archive, "archive_bytes": os.path.getsize(archive), "pack_venv_bytes": size(venv),
    "wheel": wheel, "horovod_wheel": hvd,
    "seconds": {"horovod_wheel": round(t_hvd - t0, 1), "smspark_wheel": round(t_wheel - t_hvd, 1),
                "fresh_venv_install": round(t_venv - t_wheel, 1), "venv_pack": round(t_pack - t_venv, 1),
                "total": round(t_pack - t0, 1)},
}
pathlib.Path(dist, "pack-report.json").write_text(json.dumps(report, indent=2) + "\n")
print(f"[pack] {archive}: {report['archive_bytes'] / 2**20:.0f} MiB (venv {report['pack_venv_bytes'] / 2**20:.0f} MiB), "
      f"{report['seconds']['total']} s {report['seconds']}")
EOF
