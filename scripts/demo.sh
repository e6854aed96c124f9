#!/usr/bin/env bash
# The README's first command: dbseal's main job against a sandbox MariaDB it starts itself.
set -euo pipefail
cd "$(dirname "$0")/.."
exec .venv/bin/python -m dbseal.demo
