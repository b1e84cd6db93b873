#!/usr/bin/env bash
# Install what building and testing bulkhead needs on Debian 12, only what is missing.
set -euo pipefail
pkgs=(build-essential cmake pkgconf libmsgpack-dev libseccomp-dev libcap-dev check uidmap
      libconfig-dev libjansson-dev python3-msgpack python3-pynvim neovim g++
      clang libclang-rt-14-dev) # the fuzz build: libFuzzer's runtime is in libclang-rt
command -v rustc >/dev/null 2>&1 || pkgs+=(rustc)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "installing: ${missing[*]}"
  sudo_cmd=()
  [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
