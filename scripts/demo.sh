#!/usr/bin/env bash
# The README's first command: dbseal's main job on an embedded default.
# Everything is written under ./demo-out (re-created on each run).
set -euo pipefail
cd "$(dirname "$0")/.."
D=.venv/bin/dbseal
OUT=demo-out
rm -rf "$OUT"; mkdir -m 700 "$OUT"
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "generate a sample SQL dump (20 MB, deterministic)"
.venv/bin/python -m dbseal.demo_data --size 20M -o "$OUT/shop.sql"
ls -l "$OUT/shop.sql"

step "keys: an offline escrow identity (age-compatible) and a passphrase-sealed keyring"
$D keygen -o "$OUT/escrow.key" > "$OUT/escrow.pub"
echo "escrow recipient: $(cat "$OUT/escrow.pub")"
( umask 077; head -c 24 /dev/urandom | base64 > "$OUT/keyring.pass" )
export DBSEAL_KEYRING_PASSPHRASE_FILE="$OUT/keyring.pass"   # names a 0600 file, never holds the secret
$D keys init --keyring "$OUT/keyring" --key backup
$D keys list --keyring "$OUT/keyring"

step "seal: zstd, AES-256-GCM chunks, wrapped for the keyring key AND the escrow key"
time $D seal --keyring "$OUT/keyring" --key backup -R "$OUT/escrow.pub" -o "$OUT/shop.sql.dbseal" "$OUT/shop.sql"

step "inspect: no key needed"
$D inspect "$OUT/shop.sql.dbseal"

step "unseal with the keyring, then again with only the escrow identity"
$D unseal --keyring "$OUT/keyring" -o "$OUT/restored-keyring.sql" "$OUT/shop.sql.dbseal"
$D unseal -i "$OUT/escrow.key" -o "$OUT/restored-escrow.sql" "$OUT/shop.sql.dbseal"
sha256sum "$OUT/shop.sql" "$OUT/restored-keyring.sql" "$OUT/restored-escrow.sql"
cmp "$OUT/shop.sql" "$OUT/restored-keyring.sql" && cmp "$OUT/shop.sql" "$OUT/restored-escrow.sql"
echo "both restores are byte-identical to the original"

step "tampering is caught: flip one byte in the middle of the sealed file"
cp "$OUT/shop.sql.dbseal" "$OUT/tampered.dbseal"
.venv/bin/python - "$OUT/tampered.dbseal" <<'PY'
import os, sys
with open(sys.argv[1], "r+b") as fh:
    fh.seek(os.path.getsize(sys.argv[1]) // 2)
    b = fh.read(1); fh.seek(-1, 1); fh.write(bytes([b[0] ^ 1]))
PY
set +e
$D unseal -i "$OUT/escrow.key" -o "$OUT/tampered.sql" "$OUT/tampered.dbseal"; rc=$?
set -e
echo "exit status $rc; output file left behind: $([ -e "$OUT/tampered.sql" ] && echo yes || echo no)"
[ "$rc" -eq 6 ] && [ ! -e "$OUT/tampered.sql" ]

step "demo finished: everything above is in $OUT/"
