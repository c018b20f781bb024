#!/usr/bin/env bash
# Builds the graphc VS Code extension: the grammar's staleness check, npm ci, the grammar tests, a
# smoke test of graphc lsp through vscode-jsonrpc, the .vsix.
#   editors/vscode/build.sh            -> editors/vscode/graphc.vsix
# Needs node >= 18 and npm; as root on Debian/Ubuntu it installs them when they are missing.
# PYTHON (default: the repository's .venv, else python3) runs the staleness check and the server.
set -euo pipefail
cd "$(dirname "$0")"
ROOT="$(cd ../.. && pwd)"

if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        apt-get update -qq && apt-get install -y -qq nodejs npm
    else
        echo "build.sh: node and npm are needed (apt-get install nodejs npm, or https://nodejs.org)" >&2
        exit 2
    fi
fi

PYTHON="${PYTHON:-}"
if [ -z "$PYTHON" ]; then
    if [ -x "$ROOT/.venv/bin/python" ]; then PYTHON="$ROOT/.venv/bin/python"; else PYTHON=python3; fi
fi
echo "== grammar up to date with grammars/model.lark and the registries"
PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}" "$PYTHON" scripts/gen_grammar.py --check

echo "== npm ci"
npm ci --no-audit --no-fund

echo "== grammar tests (vscode-tmgrammar-test)"
npm test

echo "== the server through vscode-jsonrpc (the client's own JSON-RPC library)"
node test/smoke.js "$PYTHON" "$ROOT"

echo "== package"
npm run package
ls -l graphc.vsix
