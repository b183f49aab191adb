#!/usr/bin/env bash
# Installs the OS packages gazepipe needs: libjpeg-turbo's TurboJPEG API for PyTurboJPEG.
set -euo pipefail
missing=()
for pkg in libturbojpeg0; do
    dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
done
[ ${#missing[@]} -eq 0 ] && exit 0
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}"
