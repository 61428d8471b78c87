#!/usr/bin/env bash
# Installs the Debian packages listed in scripts/debian-packages.txt, and
# Debian's npm when the nodejs installed brings none (a nodejs from another
# archive that bundles npm conflicts with Debian's npm package).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
sudo=""
[ "$(id -u)" = 0 ] || sudo=sudo
pkgs=$(grep -v '^#' "$here/debian-packages.txt" | grep -v '^$' | tr '\n' ' ')
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -q
$sudo apt-get install -y -q --no-install-recommends $pkgs
command -v npm >/dev/null || $sudo apt-get install -y -q --no-install-recommends npm
