#!/usr/bin/env bash
# What `cmake --install` gives a user, checked from a fresh prefix:
#   - only the public headers; libbulkhead-client exports only the documented API;
#   - a client built with `pkg-config --cflags --libs bulkhead-client` and a plugin
#     built with `pkg-config --cflags bulkhead-plugin` run against the installed
#     daemon with no LD_LIBRARY_PATH or other extra flag;
#   - a CMake project using find_package(bulkhead) (bulkhead::client,
#     bulkhead::plugin) configures, builds and runs the same way;
#   - the installed CLI runs (its RUNPATH), --help names the installed paths, the man
#     pages, the bash completion and the sample configuration are there.
#
# usage: install_test.sh BUILD_DIR SOURCE_DIR [EXTRA_CFLAGS]
#   EXTRA_CFLAGS: the sanitizer flags of a BH_SANITIZE build (its library needs the
#   sanitizer runtime first in the program), else empty.
set -euo pipefail
build=$1 src=$2 extra=${3-}
tmp=$(mktemp -d /tmp/bh-install.XXXXXX)
daemon=
cleanup() {
    [ -n "$daemon" ] && kill "$daemon" 2>/dev/null && wait "$daemon" 2>/dev/null
    rm -rf "$tmp"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

prefix=$tmp/prefix
cmake --install "$build" --prefix "$prefix" >/dev/null
libdir=$(find "$prefix" -name 'libbulkhead-client.so' -printf '%h\n' | head -1)
[ -n "$libdir" ] || fail "no libbulkhead-client.so installed"
export PKG_CONFIG_PATH=$libdir/pkgconfig

# Public headers only.
for h in proto.h channel.h claims.h bulk.h escape.h; do
    [ ! -e "$prefix/include/bulkhead/$h" ] || fail "internal header $h installed"
done
for h in client.h plugin.h value.h error.h; do
    [ -e "$prefix/include/bulkhead/$h" ] || fail "public header $h missing"
done

# Exported symbols: every one declared in an installed header.
leaks=()
while read -r sym; do
    grep -qw -- "$sym" "$prefix"/include/bulkhead/*.h || leaks+=("$sym")
done < <(nm -D --defined-only "$libdir/libbulkhead-client.so" | awk '$2 ~ /[TWDBR]/ {print $3}' |
         grep -v -e '^_init$' -e '^_fini$')
((${#leaks[@]} == 0)) || fail "libbulkhead-client exports undocumented symbols: ${leaks[*]}"
nm -D --defined-only "$libdir/libbulkhead-client.so" | grep -q ' bh_client_connect$' ||
    fail "bh_client_connect is not exported"

# A plugin and a client built from the prefix, as the README says.
cat > "$tmp/greet.c" <<'C'
#include <bulkhead/plugin.h>
static int hello(void *state, const bh_value *args, bh_writer *out, bh_error *err)
{
	(void)state;
	const char *s;
	size_t n;
	if (bh_value_get_str(bh_value_at(args, 0), &s, &n) < 0)
		return bh_fail(err, BH_E_INVALID_PARAMS, "hello(name: str)");
	return bh_write_str(out, s, n);
}
static const struct bh_method methods[] = {{"hello", hello}};
BH_PLUGIN_DEFINE = {BH_PLUGIN_HEADER, .name = "greet", .version = "1.0.0",
		    .methods = methods, .n_methods = 1};
C
cat > "$tmp/app.c" <<'C'
#include <bulkhead/client.h>
#include <stdio.h>
int main(int argc, char **argv)
{
	bh_client *c;
	if (argc < 2 || bh_client_connect(argv[1], &c) < 0)
		return 3;
	bh_writer *w = bh_client_params(c);
	bh_write_array(w, 1);
	bh_write_cstr(w, "installed");
	bh_result *r;
	bh_error err;
	if (bh_call(c, "greet.hello", 30000, &r, &err) < 0) {
		fprintf(stderr, "%s (%d): %s\n", bh_code_name(err.code), err.code, err.message);
		bh_client_free(c);
		return 1;
	}
	const bh_value *v = bh_result_value(r);
	printf("%.*s\n", (int)v->len, v->as.str);
	bh_result_free(r);
	bh_client_free(c);
	return 0;
}
C
# shellcheck disable=SC2046,SC2086
cc -shared -fPIC -fvisibility=hidden $(pkg-config --cflags bulkhead-plugin) -o "$tmp/greet.so" "$tmp/greet.c"
# shellcheck disable=SC2046,SC2086
cc $extra -o "$tmp/app" "$tmp/app.c" $(pkg-config --cflags --libs bulkhead-client)

# What is installed is under test here, not the sandbox (its suites SKIP where it cannot
# run, a chroot without user namespaces for one): the plugin runs unconfined.
cat > "$tmp/bulkhead.conf" <<CONF
plugins = ({ name = "greet"; path = "$tmp/greet.so"; sandbox = false; });
CONF
mkfifo "$tmp/ready"
"$prefix/bin/bulkheadd" -c "$tmp/bulkhead.conf" -s "$tmp/bh.sock" --ready-fd 3 \
    3>"$tmp/ready" 2>"$tmp/daemon.log" &
daemon=$!
read -r line <"$tmp/ready" || true
[ "$line" = READY ] || { cat "$tmp/daemon.log" >&2; fail "the installed daemon did not start"; }

out=$(env -u LD_LIBRARY_PATH "$tmp/app" "$tmp/bh.sock") || fail "the pkg-config client failed"
[ "$out" = installed ] || fail "the pkg-config client printed '$out'"

# The same with find_package(bulkhead).
mkdir -p "$tmp/consumer"
cp "$tmp/app.c" "$tmp/greet.c" "$tmp/consumer/"
cat > "$tmp/consumer/CMakeLists.txt" <<'CM'
cmake_minimum_required(VERSION 3.16)
project(consumer C)
find_package(bulkhead 0.1 REQUIRED)
add_executable(app app.c)
target_link_libraries(app PRIVATE bulkhead::client)
add_library(greet MODULE greet.c)
target_link_libraries(greet PRIVATE bulkhead::plugin)
set_target_properties(greet PROPERTIES PREFIX "" C_VISIBILITY_PRESET hidden)
CM
cmake -S "$tmp/consumer" -B "$tmp/consumer/build" -DCMAKE_PREFIX_PATH="$prefix" \
    -DCMAKE_C_FLAGS="$extra" >"$tmp/consumer.log" 2>&1 ||
    { cat "$tmp/consumer.log" >&2; fail "find_package(bulkhead) did not configure"; }
cmake --build "$tmp/consumer/build" >>"$tmp/consumer.log" 2>&1 ||
    { cat "$tmp/consumer.log" >&2; fail "the find_package consumer did not build"; }
out=$(env -u LD_LIBRARY_PATH "$tmp/consumer/build/app" "$tmp/bh.sock") ||
    fail "the find_package client failed"
[ "$out" = installed ] || fail "the find_package client printed '$out'"
[ -e "$tmp/consumer/build/greet.so" ] || fail "the find_package plugin was not built"

# The installed CLI and what --help names.
out=$(env -u LD_LIBRARY_PATH "$prefix/bin/bulkhead" -s "$tmp/bh.sock" call greet.hello '["cli"]') ||
    fail "the installed CLI failed"
[ "$out" = '"cli"' ] || fail "the installed CLI printed '$out'"
doc=$(find "$prefix/share/doc" -name bulkhead.conf | head -1)
[ -n "$doc" ] || fail "the sample configuration is not installed"
"$prefix/bin/bulkheadd" --help | grep -q "/run/bulkhead/bulkhead.sock" || fail "bulkheadd --help: no socket"
"$prefix/bin/bulkhead" --help | grep -q "/run/bulkhead/bulkhead.sock" || fail "bulkhead --help: no socket"

for page in man8/bulkheadd.8 man1/bulkhead.1 man5/bulkhead.conf.5; do
    f=$prefix/share/man/$page
    [ -e "$f" ] || fail "$page is not installed"
    if command -v groff >/dev/null; then
        warn=$(groff -man -Tutf8 -ww -z "$f" 2>&1) || fail "$page: groff failed"
        [ -z "$warn" ] || fail "$page: $warn"
    fi
done
comp=$prefix/share/bash-completion/completions/bulkhead
[ -e "$comp" ] || fail "the bash completion is not installed"
bash -n "$comp" || fail "the bash completion does not parse"
echo "install: ok ($prefix)"
