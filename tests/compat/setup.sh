#!/usr/bin/env bash
# Prepare the environment for running kazoo 2.11's own test suite against
# Rookery: a Python venv with kazoo's test dependencies (tests/compat/.venv)
# and kazoo's sdist unpacked into tests/compat/.kazoo-src (both gitignored;
# nothing fetched is committed).  Idempotent: does nothing when both exist.
#
# Env knobs: VENV (default tests/compat/.venv), KAZOO_SRC (default
# tests/compat/.kazoo-src/kazoo-2.11.0), PYTHON (default python3).
set -eu -o pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
KAZOO_VERSION=2.11.0
VENV=${VENV:-$HERE/.venv}
KAZOO_SRC=${KAZOO_SRC:-$HERE/.kazoo-src/kazoo-$KAZOO_VERSION}
PYTHON=${PYTHON:-python3}

die() { echo "setup.sh: $*" >&2; exit 2; }

if [ ! -x "$VENV/bin/python" ] || [ ! -f "$VENV/.rookery-deps-ok" ]; then
    echo "setup.sh: creating venv $VENV" >&2
    "$PYTHON" -m venv "$VENV" || die "cannot create venv (apt-get install python3-venv?)"
    # Pinned to the versions that produced the Apache ZooKeeper baseline.
    # pyOpenSSL<24.3 / cryptography<44 are required by kazoo.testing.common
    # (it uses the pyOpenSSL X509Extension API to mint the test CA/certs).
    "$VENV/bin/pip" install -q --disable-pip-version-check \
        pytest==9.2.0 pytest-timeout==2.4.0 pyOpenSSL==24.2.1 \
        cryptography==43.0.3 pyjks==20.0.0 objgraph==3.7.0 gevent==26.9.0 \
        eventlet==0.41.3 pure-sasl==0.6.2 || die "pip install of test deps failed"
    touch "$VENV/.rookery-deps-ok"
fi

if [ ! -d "$KAZOO_SRC/kazoo/tests" ]; then
    echo "setup.sh: fetching kazoo $KAZOO_VERSION sdist from PyPI" >&2
    mkdir -p "$(dirname "$KAZOO_SRC")"
    dl=$(mktemp -d "$(dirname "$KAZOO_SRC")/sdist.XXXX")
    "$VENV/bin/pip" download -q --disable-pip-version-check --no-deps \
        --no-binary :all: "kazoo==$KAZOO_VERSION" -d "$dl" || { rm -rf "$dl"; die "pip download kazoo failed"; }
    tar -xzf "$dl/kazoo-$KAZOO_VERSION.tar.gz" -C "$(dirname "$KAZOO_SRC")" || { rm -rf "$dl"; die "untar failed"; }
    rm -rf "$dl"
fi

# kazoo itself is installed from the unpacked sdist (the tests import
# kazoo.testing / kazoo.tests from the same tree).
if ! "$VENV/bin/python" - "$KAZOO_SRC" <<'PY' 2>/dev/null
import os, sys, kazoo, kazoo.version
src = os.path.realpath(sys.argv[1])
ok = kazoo.version.__version__ == "2.11.0" and os.path.realpath(kazoo.__file__).startswith(src)
sys.exit(0 if ok else 1)
PY
then
    "$VENV/bin/pip" install -q --disable-pip-version-check --no-deps -e "$KAZOO_SRC" \
        || die "installing kazoo from $KAZOO_SRC failed"
fi
echo "setup.sh: ready: venv $VENV, kazoo tests in $KAZOO_SRC/kazoo/tests" >&2
