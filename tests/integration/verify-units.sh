#!/bin/sh
# systemd-analyze verify on the built units (supervisor/systemd), with ExecStart
# pointing at the build's bulkheadd. verify warns about unknown keys and bad values
# without failing, so any output fails the test. SKIP (77) without systemd-analyze.
# usage: verify-units.sh UNIT_DIR BULKHEADD
set -u
if ! command -v systemd-analyze >/dev/null 2>&1; then
  echo "SKIP: no systemd-analyze (Debian's systemd package)"
  exit 77
fi
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
sed "s|^ExecStart=[^ ]*|ExecStart=$2|" "$1/bulkheadd.service" >"$tmp/bulkheadd.service" || exit 1
cp "$1/bulkheadd.socket" "$tmp/" || exit 1
cd "$tmp" || exit 1
out=$(systemd-analyze verify --man=no bulkheadd.service bulkheadd.socket 2>&1)
rc=$?
if [ $rc -ne 0 ] || [ -n "$out" ]; then
  echo "systemd-analyze verify (exit $rc):"
  echo "$out"
  exit 1
fi
echo "bulkheadd.service and bulkheadd.socket verified"
