#!/usr/bin/env bash
# Build Horovod 0.28.1 (TensorFlow + Gloo, CPU, no MPI) from source into a virtualenv.
#
# Usage: scripts/build_horovod.sh [VENV]      (default: $VENV, else .venv)
#
# Idempotent: does nothing when the venv already has a Horovod whose TensorFlow extension
# was built with Gloo. TensorFlow must already be installed in the venv (Horovod compiles
# against its headers, hence --no-build-isolation). Uses the system cmake (3.x): the PyPI
# `cmake` 4.x wheel rejects Horovod's CMake files, so it is removed from the venv if present.
# Takes about 6 minutes on 2 cores.
#
# Do NOT install the `horovod[spark]` extra: it pins pyarrow<11. The few plain packages that
# `horovod.spark.run` needs are in requirements/horovod-extras.txt and installed here.
set -euo pipefail

HOROVOD_VERSION=0.28.1
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
WHEEL_ONLY=0
if [ "${1:-}" = "--wheel" ]; then WHEEL_ONLY=1; shift; fi
VENV_DIR="${1:-${VENV:-.venv}}"
case "$VENV_DIR" in
  /*) ;;
  *) VENV_DIR="$ROOT/$VENV_DIR" ;;
esac
PY="$VENV_DIR/bin/python"
WHEEL_DIR="${HOROVOD_WHEEL_DIR:-$VENV_DIR/wheels}"

log() { echo "[build_horovod] $*"; }
die() { echo "[build_horovod] ERROR: $*" >&2; exit 1; }

[ -x "$PY" ] || die "no python at $PY; create the venv first (make setup)"

# Everything TF-related in this project runs with legacy (tf_keras) Keras.
export TF_USE_LEGACY_KERAS=1
export TF_CPP_MIN_LOG_LEVEL=2

check_horovod() {
  "$PY" - <<'EOF' >/dev/null 2>&1
import horovod
import horovod.tensorflow as hvd
assert horovod.__version__ == "0.28.1", horovod.__version__
assert hvd.gloo_built(), "gloo not built"
import horovod.tensorflow.keras  # noqa: F401  (DistributedOptimizer lives here)
import horovod.spark  # noqa: F401
EOF
}

install_extras() {
  local req="$ROOT/requirements/horovod-extras.txt"
  if [ -f "$req" ]; then
    log "installing runtime extras for horovod.spark.run from ${req#"$ROOT"/}"
    "$PY" -m pip install --disable-pip-version-check -q -c "$ROOT/requirements/constraints.txt" -r "$req"
  fi
}

log "venv: $VENV_DIR"
install_extras

kept_wheel() { ls "$WHEEL_DIR"/horovod-"$HOROVOD_VERSION"-*.whl 2>/dev/null | head -n1; }

if check_horovod && { [ "$WHEEL_ONLY" = 0 ] || [ -n "$(kept_wheel)" ]; }; then
  log "horovod $HOROVOD_VERSION with TensorFlow + Gloo already in $VENV_DIR (kept wheel: $(kept_wheel || true)); nothing to do"
  exit 0
fi

if [ -n "$(kept_wheel)" ] && ! check_horovod; then
  log "installing the kept wheel $(kept_wheel)"
  "$PY" -m pip install --disable-pip-version-check -q --no-deps --force-reinstall "$(kept_wheel)"
  check_horovod && { log "ok: horovod $HOROVOD_VERSION from $(kept_wheel)"; exit 0; }
  log "the kept wheel does not work in this venv (another Python or TensorFlow?); building a new one"
  rm -f "$(kept_wheel)"
fi

log "checking that TensorFlow is importable (Horovod compiles against it)"
"$PY" -c "import tensorflow as tf; print('[build_horovod] tensorflow', tf.__version__)" \
  || die "TensorFlow is not importable from $PY; install requirements/base.txt first"

# A PyPI cmake 4.x inside the venv would shadow the system cmake on PATH and fail on
# Horovod's old CMakeLists (cmake_minimum_required < 3.5).
if [ -e "$VENV_DIR/bin/cmake" ] || "$PY" -m pip show cmake >/dev/null 2>&1; then
  log "removing PyPI cmake from the venv (it shadows the system cmake 3.x)"
  "$PY" -m pip uninstall -y cmake || true
  rm -f "$VENV_DIR/bin/cmake"
fi

# System cmake: install it when missing and we are root.
if ! command -v cmake >/dev/null 2>&1; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    log "cmake not found; installing it with apt-get"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq cmake
  else
    die "cmake not found; install the system cmake 3.x (e.g. 'sudo apt-get install cmake')"
  fi
fi
CMAKE_BIN="$(command -v cmake)"
CMAKE_MAJOR="$(cmake --version | head -n1 | sed -E 's/[^0-9]*([0-9]+)\..*/\1/')"
log "using $CMAKE_BIN ($(cmake --version | head -n1))"
[ "$CMAKE_MAJOR" = "3" ] || die "Horovod $HOROVOD_VERSION needs cmake 3.x, found $CMAKE_BIN major version $CMAKE_MAJOR"
command -v g++ >/dev/null 2>&1 || command -v c++ >/dev/null 2>&1 || die "no C++ compiler (install build-essential)"

BUILD_LOG="$VENV_DIR/horovod-build.log"
mkdir -p "$WHEEL_DIR"
log "building the horovod==$HOROVOD_VERSION wheel (TensorFlow + Gloo, no MPI/PyTorch/MXNet) into $WHEEL_DIR; this takes several minutes"
log "compiler output goes to $BUILD_LOG"
start=$(date +%s)
# Keep the venv's bin first so the build sees the venv's python, but the system cmake.
PATH="$VENV_DIR/bin:$PATH" \
HOROVOD_WITH_TENSORFLOW=1 \
HOROVOD_WITH_GLOO=1 \
HOROVOD_WITHOUT_MPI=1 \
HOROVOD_WITHOUT_PYTORCH=1 \
HOROVOD_WITHOUT_MXNET=1 \
MAKEFLAGS="-j$(nproc)" \
  "$PY" -m pip wheel --disable-pip-version-check --no-deps --no-build-isolation --no-cache-dir -v \
  -w "$WHEEL_DIR" "horovod==$HOROVOD_VERSION" > "$BUILD_LOG" 2>&1 \
  || { tail -n 60 "$BUILD_LOG" >&2; die "the Horovod build failed; the full log is $BUILD_LOG"; }
end=$(date +%s)
log "build finished in $((end - start)) s: $(kept_wheel)"
[ -n "$(kept_wheel)" ] || die "no horovod wheel in $WHEEL_DIR after the build; see $BUILD_LOG"
if [ "$WHEEL_ONLY" = 1 ] && check_horovod; then
  log "ok: the venv's horovod works; the wheel is kept for the packed environment"
  exit 0
fi
"$PY" -m pip uninstall -y horovod >/dev/null 2>&1 || true
"$PY" -m pip install --disable-pip-version-check -q --no-deps "$(kept_wheel)"

log "verifying the build"
"$PY" - <<'EOF' || die "horovod installed but the check failed (see above)"
import horovod
import horovod.tensorflow as hvd
print("[build_horovod] horovod", horovod.__version__, "gloo_built:", hvd.gloo_built(), "mpi_built:", hvd.mpi_built())
assert hvd.gloo_built(), "Horovod was built without Gloo"
import horovod.tensorflow.keras  # noqa: F401
import horovod.spark  # noqa: F401
EOF
[ -x "$VENV_DIR/bin/horovodrun" ] || die "horovodrun missing from $VENV_DIR/bin"
log "ok: horovod $HOROVOD_VERSION with TensorFlow + Gloo in $VENV_DIR"
