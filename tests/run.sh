#!/usr/bin/env bash
# The test command of the README. From a fresh Debian 12 machine with Python 3.11
# (root or sudo, no terminal needed) it installs what is missing, then runs pytest
# with this script's arguments. A second run installs nothing.
# PYTHON=python3.13 bash tests/run.sh runs it with another supported interpreter.
set -euo pipefail
cd "$(dirname "$0")/.."

# System packages the suite needs, each installed only when missing.
# >>> Add new ones to this list.
SYSTEM_PACKAGES=(postgresql python3-venv chromium nginx php-cli php-soap jaxws default-jdk-headless
  pgbouncer gcc libc6-dev)
EXTRAS='.[test,postgres]'

missing=()
for package in "${SYSTEM_PACKAGES[@]}"; do
  if [ "$(dpkg-query -W -f='${Status}' "$package" 2>/dev/null)" != "install ok installed" ]; then
    missing+=("$package")
  fi
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -eq 0 ]; then
    as_root=()
  elif command -v sudo >/dev/null; then
    as_root=(sudo)
  else
    echo "tests/run.sh: missing system packages; as root, run: apt-get install ${missing[*]}" >&2
    exit 1
  fi
  echo "tests/run.sh: installing ${missing[*]}" >&2
  # env, not export: sudo resets the environment.
  apt=("${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -q -o DPkg::Lock::Timeout=300)
  # No package may start its service here (nginx would take port 80 as root, pgbouncer
  # port 6432): the tests run their own. Debian's switch for that is a policy-rc.d
  # exiting 101, removed by the subshell's exit, failed or not; one already in place is
  # the machine's and stays.
  (
    policy=/usr/sbin/policy-rc.d
    if [ ! -e "$policy" ]; then
      printf '#!/bin/sh\nexit 101\n' | "${as_root[@]}" tee "$policy" >/dev/null
      "${as_root[@]}" chmod 755 "$policy"
      trap '"${as_root[@]}" rm -f "$policy"' EXIT
    fi
    "${apt[@]}" update
    "${apt[@]}" install -y --no-install-recommends "${missing[@]}"
  )
fi

# The interpreter: PYTHON (a command name such as python3.13, found on PATH or among
# pyenv's versions) gets its own .venv-X.Y; by default python3.11 (or python3) and .venv.
supported='import sys; sys.exit(not (3, 11) <= sys.version_info[:2] <= (3, 13))'
find_python() {
  local name=$1 version
  if command -v "$name" >/dev/null && "$name" -c "$supported" 2>/dev/null; then
    command -v "$name"
    return
  fi
  # pyenv's shims refuse versions that are installed but not selected: ask pyenv itself.
  if command -v pyenv >/dev/null; then
    for version in $(pyenv versions --bare); do
      if PYENV_VERSION=$version pyenv which "$name" >/dev/null 2>&1; then
        PYENV_VERSION=$version pyenv which "$name"
        return
      fi
    done
  fi
  return 1
}
if [ -n "${PYTHON:-}" ]; then
  python=$(find_python "$PYTHON") || {
    echo "tests/run.sh: PYTHON=$PYTHON is not a Python 3.11-3.13 on PATH or in pyenv" >&2
    exit 1
  }
  venv=.venv-$("$python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
else
  python=$(find_python python3.11 || find_python python3) || {
    echo "tests/run.sh: Python 3.11 to 3.13 is required (python3.11 or python3)" >&2
    exit 1
  }
  venv=.venv
fi
# Checking for pip too catches a venv left half-made by a run without python3-venv.
if ! "$venv/bin/python" -c "$supported; import pip" 2>/dev/null; then
  "$python" -m venv --clear "$venv"
fi

# Install again only when the packaging changed; the venv is recreated with the stamp.
# constraints.txt pins every package to the versions this suite last passed with.
stamp=$venv/.feedloop-installed
wanted="$EXTRAS $(sha256sum setup.py setup.cfg constraints.txt)"
if [ "$(cat "$stamp" 2>/dev/null)" != "$wanted" ]; then
  PIP_DISABLE_PIP_VERSION_CHECK=1 "$venv/bin/python" -m pip install -q -c constraints.txt \
    -e "$EXTRAS"
  echo "$wanted" > "$stamp"
fi

# The whole suite (no arguments: the README's command and CI's) must keep the in-process
# branch coverage of service/ at this floor; raise it as coverage grows, never lower it.
# A run of chosen tests only reports coverage.
COVERAGE_FLOOR=95
whole_suite=false
if [ $# -eq 0 ]; then
  whole_suite=true
  set -- --cov-fail-under="$COVERAGE_FLOOR"
fi

status=0
"$venv/bin/python" -m pytest "$@" || status=$?
if [ "$status" -eq 5 ]; then
  echo "tests/run.sh: pytest collected no test, and an empty suite must not pass" >&2
fi

# The whole suite (no arguments) also proves the other supported interpreters on the
# unit, in-process door and end-to-end door tests, on SQLite (PostgreSQL is proven by
# the main run; this keeps CI under 10 minutes). A machine without them (Debian 12
# has only 3.11) skips them with a note; on CI (CI=true) a missing one is a failure.
# FEEDLOOP_EXTRA_PYTHONS names them (default below; empty: none).
if [ "$whole_suite" = true ] && [ -z "${PYTHON:-}" ]; then
  for extra in ${FEEDLOOP_EXTRA_PYTHONS-python3.12 python3.13}; do
    if ! find_python "$extra" >/dev/null; then
      echo "tests/run.sh: $extra not found, its subset is skipped" >&2
      [ "${CI:-}" = true ] && status=1
      continue
    fi
    echo "tests/run.sh: the door subset on $extra" >&2
    PYTHON=$extra bash tests/run.sh -q -m "not browser and not postgres" tests/unit \
      tests/integration/test_doors_in_process.py tests/e2e/test_walking_skeleton.py \
      tests/e2e/test_isolation_and_scopes.py tests/e2e/test_hostile_input.py || status=1
  done
fi
exit "$status"
