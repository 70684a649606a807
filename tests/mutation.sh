#!/usr/bin/env bash
# Mutation testing of the rules (docs/mutation.md): mutmut breaks the domain and the
# rule-bearing services one change at a time and runs the fast in-process tests that
# reach each change; a change no test notices is a survivor. Slow (about half an hour
# on 2 cores), so not part of every CI run: run it when the rules change.
# Which modules and tests: the [mutmut] section of setup.cfg.
#   bash tests/mutation.sh                      every mutant (results are cached in mutants/)
#   bash tests/mutation.sh 'service.web.csrf*'  only the mutants of one module
# Then: .venv/bin/mutmut show <name> prints one survivor's change.
set -euo pipefail
cd "$(dirname "$0")/.."

# The suite's own environment first (tests/run.sh installs it), then mutmut into it.
bash tests/run.sh --collect-only -q >/dev/null
if ! .venv/bin/python -c 'import mutmut' 2>/dev/null; then
  PIP_DISABLE_PIP_VERSION_CHECK=1 .venv/bin/python -m pip install -q -e '.[test,postgres,mutation]'
fi

nice -n 10 .venv/bin/mutmut run --max-children "${MUTATION_JOBS:-2}" "$@"
.venv/bin/python tests/support/mutation_report.py
