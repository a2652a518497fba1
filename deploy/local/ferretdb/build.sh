#!/usr/bin/env bash
# Build the local FerretDB wrapper (see main.go) into <repo>/.cache/bin/vestnik-ferretdb.
# Idempotent: rebuilds only when the binary is missing or older than its sources.
# Uses the default GOMODCACHE/GOCACHE; a cold cache downloads ~70 modules and
# compiles them (about a minute or two on 2 cores).
set -euo pipefail

src_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo_root="$(cd "$src_dir/../../.." && pwd)"
out="$repo_root/.cache/bin/vestnik-ferretdb"

stale=0
[[ -x "$out" ]] || stale=1
for f in main.go go.mod go.sum; do
  if [[ "$src_dir/$f" -nt "$out" ]]; then stale=1; fi
done

if [[ $stale == 0 ]]; then
  echo "vestnik-ferretdb: up to date ($out)"
  exit 0
fi

echo "vestnik-ferretdb: building $out"
mkdir -p "$(dirname "$out")"
# ferretdb_no_sqlite: we only use the PostgreSQL backend; the tag drops the SQLite driver.
# -buildvcs=false: no git stamping (avoids "error obtaining VCS status" in odd checkouts).
cd "$src_dir"
go build -trimpath -buildvcs=false -tags ferretdb_no_sqlite -ldflags='-s -w' -o "$out.tmp" .
mv -f "$out.tmp" "$out"
