#!/usr/bin/env bash
# The whole test suite, from a fresh Debian 12 machine with Python 3.11:
# installs what is missing (system packages, a virtualenv with the test
# extras), then runs pytest with any arguments given to this script.
set -euo pipefail
cd "$(dirname "$0")/.."

# System packages the suite needs; each is installed only when missing.
SYSTEM_PACKAGES=(postgresql python3-venv chromium)

missing=()
for package in "${SYSTEM_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" \
    || missing+=("$package")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "tests/run.sh: installing ${missing[*]}"
  if [ "$(id -u)" -eq 0 ]; then SUDO=(); elif command -v sudo >/dev/null; then SUDO=(sudo); else
    echo "tests/run.sh: please install as root: apt-get install ${missing[*]}" >&2; exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  "${SUDO[@]}" apt-get update -qq
  "${SUDO[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

PYTHON=${PYTHON:-}
if [ -z "$PYTHON" ]; then
  for candidate in python3.11 python3; do
    if command -v "$candidate" >/dev/null && "$candidate" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))'; then
      PYTHON=$candidate; break
    fi
  done
fi
[ -n "$PYTHON" ] || { echo "tests/run.sh: Python 3.11 is required (spyne 2.14 does not run on 3.12+)" >&2; exit 1; }

if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
# Reinstall only when the packaging changed since the last install.
stamp=.venv/.feedloop-installed
wanted=$(cat setup.py setup.cfg | sha256sum | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$wanted" ]; then
  .venv/bin/pip install -q --upgrade pip
  .venv/bin/pip install -q -e '.[test,postgres]'
  echo "$wanted" > "$stamp"
fi

status=0
.venv/bin/python -m pytest "$@" || status=$?
if [ "$status" -eq 5 ]; then
  echo "tests/run.sh: no test was collected: that is a failure" >&2
  exit 1
fi
exit "$status"
