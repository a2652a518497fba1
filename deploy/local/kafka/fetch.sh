#!/usr/bin/env bash
# Resolve the Kafka broker classpath from Maven Central into .cache/kafka/libs.
# Re-fetches only when pom.xml changed (sha256 stamp), so it is cheap to call every time.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../../.." && pwd)"
pom="$here/pom.xml"
libs="$root/.cache/kafka/libs"
stamp="$libs/.pom.sha256"   # java's 'libs/*' classpath only picks up *.jar, so this is safe here

want="$(sha256sum "$pom" | cut -d' ' -f1)"
if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
  echo "kafka libs up to date: $libs"
  exit 0
fi

echo "fetching kafka libs into $libs"
# Build into a temp dir and swap, so an interrupted fetch never looks complete
# and jars of an older version never linger on the classpath.
tmp="$libs.tmp"
rm -rf "$tmp"
# Maven output is kept out of the way (Debian's mvn prints stray ANSI codes even
# with -q) and shown only on failure.
log="$root/.cache/kafka/fetch.log"
mkdir -p "$root/.cache/kafka"
if ! mvn -q -B -f "$pom" -Dmaven.repo.local="$root/.cache/m2" \
    dependency:copy-dependencies -DoutputDirectory="$tmp" -DincludeScope=runtime >"$log" 2>&1; then
  cat "$log" >&2
  exit 1
fi
echo "$want" > "$tmp/.pom.sha256"
rm -rf "$libs"
mv "$tmp" "$libs"
