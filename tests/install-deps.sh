#!/usr/bin/env bash
# Install what building and testing bulkhead needs on Debian 12, only what is missing.
set -euo pipefail
pkgs=(build-essential cmake pkgconf libmsgpack-dev libseccomp-dev libcap-dev check uidmap
      libconfig-dev libjansson-dev python3-msgpack python3-pynvim neovim g++ libmicrohttpd-dev
      libsystemd-dev systemd
      prometheus # promtool and a server for the metrics tests
      clang libclang-rt-14-dev) # the fuzz build: libFuzzer's runtime is in libclang-rt
command -v rustc >/dev/null 2>&1 || pkgs+=(rustc)
# node and npm for the node client test (any version: the one here may be newer).
command -v node >/dev/null 2>&1 || pkgs+=(nodejs)
command -v npm >/dev/null 2>&1 || pkgs+=(npm)
# The Go plugin SDK's example and test (about 80 MB to download; the example builds in
# 25-50 s on 2 vCPUs, its tests take 3 s).
command -v go >/dev/null 2>&1 || pkgs+=(golang-go)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "installing: ${missing[*]}"
  sudo_cmd=()
  [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get update -qq
  # The prometheus package would start its service (a server on :9090); the tests run
  # their own. Debian's policy-rc.d says no for the install, unless one is in place.
  policy=/usr/sbin/policy-rc.d
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' | "${sudo_cmd[@]}" tee "$policy" >/dev/null
    "${sudo_cmd[@]}" chmod 755 "$policy"
    trap '"${sudo_cmd[@]}" rm -f "$policy"' EXIT
  fi
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
