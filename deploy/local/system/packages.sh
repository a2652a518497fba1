#!/usr/bin/env bash
# The system libraries the digest's PDFs need: pango (WeasyPrint's text layout), the DejaVu
# fonts (Cyrillic), and poppler-utils (pdftotext/pdfinfo, which the tests read PDFs back with).
# Idempotent: installs only what is missing, with apt-get, on Debian or Ubuntu.
set -euo pipefail

packages=(libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 fonts-dejavu-core poppler-utils)
missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" \
    || missing+=("$package")
done
if [[ ${#missing[@]} == 0 ]]; then
  echo "system packages: present (${packages[*]})"
  exit 0
fi
if ! command -v apt-get >/dev/null; then
  echo "system packages: please install ${missing[*]} (pango, DejaVu fonts, poppler-utils)" >&2
  exit 1
fi
sudo=""
[[ $(id -u) == 0 ]] || sudo="sudo"
echo "system packages: installing ${missing[*]}"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
