#!/usr/bin/env bash
# What the project needs from the system: PostgreSQL's server (the local stack's FerretDB keeps
# its data there; any version Debian or Ubuntu ships), pango (WeasyPrint's text layout) and the
# DejaVu fonts (Cyrillic) for the digest's PDFs; poppler-utils (pdftotext/pdfinfo), which the
# tests read the PDFs back with; prometheus (the server and promtool), which the monitoring
# tests run; and chromium, the browser the browser tests drive through Playwright (whose own
# browser download is not reachable here) at /usr/bin/chromium.
# Idempotent: installs only what is missing, with apt-get, on Debian or Ubuntu, and starts no
# daemon (the tests start their own Prometheus).
set -euo pipefail

# What the services need at run time (the container image installs the same) …
runtime_packages=(libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 fonts-dejavu-core)
# … and what only the local stack and the tests need.
test_packages=(poppler-utils prometheus)
packages=("${runtime_packages[@]}" "${test_packages[@]}")
missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" \
    || missing+=("$package")
done
# Any installed server version will do (Debian 12 has postgresql-15); else the distribution's.
compgen -G "/usr/lib/postgresql/*/bin/postgres" >/dev/null || missing+=(postgresql)
# The browser tests launch exactly this path; a chromium installed some other way will not do.
[[ -x /usr/bin/chromium ]] || missing+=(chromium)
# npm fetches axe-core for the accessibility checks (the Makefile pins its version); any Node.js
# that brings npm will do, so Debian's only when there is none.
command -v npm >/dev/null || missing+=(npm)
if [[ ${#missing[@]} == 0 ]]; then
  echo "system packages: present (${packages[*]} postgresql chromium npm)"
  exit 0
fi
if ! command -v apt-get >/dev/null; then
  echo "system packages: please install ${missing[*]} (PostgreSQL, pango, DejaVu fonts, poppler-utils, chromium, npm)" >&2
  exit 1
fi
sudo=""
[[ $(id -u) == 0 ]] || sudo="sudo"
echo "system packages: installing ${missing[*]}"
# Keep the prometheus and postgresql packages from starting their system services: policy-rc.d
# says no (the local stack runs its own PostgreSQL cluster on its own port).
if [[ ! -e /usr/sbin/policy-rc.d ]]; then
  printf '#!/bin/sh\nexit 101\n' | $sudo tee /usr/sbin/policy-rc.d >/dev/null
  $sudo chmod +x /usr/sbin/policy-rc.d
  trap '$sudo rm -f /usr/sbin/policy-rc.d' EXIT
fi
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
