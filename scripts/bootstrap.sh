#!/usr/bin/env bash
# Install everything dbseal's demo and tests need on a fresh Debian machine (as root),
# then create .venv with dbseal and its development tools. Safe to re-run.
set -euo pipefail
cd "$(dirname "$0")/.."

apt_pkgs=()
need() { command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ] || apt_pkgs+=("$2"); }
need age age
need zstd zstd
need mariadbd mariadb-server
need mariadb mariadb-client
need mariadb-dump mariadb-client
need mariadb-backup mariadb-backup
need mydumper mydumper
need promtool prometheus
need systemd-analyze systemd
need chromium chromium
need pdfinfo poppler-utils
need pg_dump postgresql-client
# initdb/postgres live in /usr/lib/postgresql/N/bin (not on PATH) on Debian
compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || command -v initdb >/dev/null 2>&1 \
    || apt_pkgs+=(postgresql)
if ! python3 -c 'import venv, ensurepip' >/dev/null 2>&1; then apt_pkgs+=(python3-venv); fi
if [ "${#apt_pkgs[@]}" -gt 0 ]; then
    if [ "$(id -u)" -ne 0 ]; then
        echo "bootstrap: missing ${apt_pkgs[*]}; run as root or install them with apt-get" >&2
        exit 1
    fi
    echo "bootstrap: installing ${apt_pkgs[*]} with apt-get" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${apt_pkgs[@]}" >/dev/null
fi

if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv
fi
stamp=.venv/.dbseal-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
    .venv/bin/python -m pip install -q --upgrade pip >/dev/null
    .venv/bin/python -m pip install -q -e '.[dev]'
    touch "$stamp"
fi
