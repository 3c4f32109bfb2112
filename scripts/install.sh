#!/usr/bin/env bash
# Installs what fwd and its tests need on a fresh Debian machine: the
# packages listed in scripts/packages.txt (only those missing) and the Go
# modules. Safe to run again; needs root for apt-get.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
while read -r pkg _; do
  [[ -z "$pkg" || "$pkg" == \#* ]] && continue
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done < scripts/packages.txt

if ((${#missing[@]})); then
  echo "install: apt-get install ${missing[*]}"
  if [[ $(id -u) -ne 0 ]]; then SUDO=sudo; else SUDO=; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if ! command -v go >/dev/null; then
  echo "install: Go is required (https://go.dev/doc/install); go.mod names the version" >&2
  exit 1
fi
go mod download
