#!/usr/bin/env bash
# install_consumers.sh BUILD_DIR VERSION CC -- installs grt into a temporary
# prefix and builds hello.c against it the two ways users do: pkg-config and
# CMake's find_package(grt).  Both programs must run and print the right sum.
#
# What it guards: that `cmake --install` ships rt.h, libgrt.a, grt.pc and
# the CMake package; that grt.pc's Requires.private and the exported
# grt::grt carry libgrt's private dependencies (a static library is useless
# without them); that grt.pc is relocatable (it is used here from a prefix
# chosen at install time, not at configure time); and that nothing in the
# consumer builds reaches back into the source or build tree.  It checks
# that the package found is the one just installed, not a copy elsewhere on
# the system.
#
# Environment: CMAKE (default cmake), PKG_CONFIG (default pkg-config),
# KEEP=1 keeps the temporary directory for inspection.
set -euo pipefail

if [ $# -ne 3 ]; then
    echo "usage: $0 BUILD_DIR VERSION CC" >&2
    exit 2
fi
build=$1 version=$2 cc=$3
here=$(cd "$(dirname "$0")" && pwd)
cmake=${CMAKE:-cmake}
pkg_config=${PKG_CONFIG:-pkg-config}
want="sum of squares 1..10 = 385"

tmp=$(mktemp -d)
if [ "${KEEP:-0}" = 1 ]; then
    echo "keeping $tmp"
else
    trap 'rm -rf "$tmp"' EXIT
fi
prefix=$tmp/prefix

step() { echo "== $*"; }
fail() { echo "FAIL: $*"; exit 1; }

step "install into $prefix"
"$cmake" --install "$build" --prefix "$prefix" > "$tmp/install.log" ||
    { cat "$tmp/install.log"; fail "cmake --install"; }
[ -f "$prefix/include/rt.h" ] || fail "include/rt.h was not installed"
[ -n "$(find "$prefix" -name libgrt.a)" ] || fail "libgrt.a was not installed"
pc=$(find "$prefix" -name grt.pc)
[ -n "$pc" ] || fail "grt.pc was not installed"

step "pkg-config"
PKG_CONFIG_PATH=$(dirname "$pc")
export PKG_CONFIG_PATH
got=$("$pkg_config" --modversion grt)
[ "$got" = "$version" ] || fail "grt.pc says version $got, the project is $version"
flags=$("$pkg_config" --static --cflags --libs grt)
echo "pkg-config --static --cflags --libs grt: $flags"
# stack-clash probing reaches the program (CMakeLists.txt: a frame larger
# than a goroutine stack's guard must touch it), where the compiler has it
if "$cc" -fstack-clash-protection -x c -c -o /dev/null /dev/null 2>/dev/null; then
    case " $flags " in
        *" -fstack-clash-protection "*) ;;
        *) fail "grt.pc's Cflags lack -fstack-clash-protection" ;;
    esac
fi
# shellcheck disable=SC2086 # the flags are meant to be split
"$cc" -o "$tmp/hello_pc" "$here/hello.c" $flags
out=$("$tmp/hello_pc") || fail "hello (pkg-config) exited with status $?"
[ "$out" = "$want" ] || fail "hello (pkg-config) printed '$out', want '$want'"
echo "$out"

step "a traceback names a file compiled by a relative path by its full path"
# `gcc -c sub/x.c` records the file relative to the compile directory; the
# traceback joins the two, as addr2line and Go print it (an outside
# tester's find: "lib/libpart.c:4").  The program deadlocks in
# wait_forever, whose frame must show $tmp/rel/sub/stuck.c.
mkdir -p "$tmp/rel/sub"
cat > "$tmp/rel/sub/stuck.c" <<'SRC'
#include <rt.h>
#include <stddef.h>
__attribute__((noinline)) static void wait_forever(rt_chan *c)
{
    rt_chan_recv(c, NULL);
    __asm__ volatile("" ::: "memory");
}
static int run(int argc, char **argv)
{
    (void)argc, (void)argv;
    wait_forever(rt_chan_make(0, 0));
    return 0;
}
int main(int argc, char **argv) { return rt_main(run, argc, argv); }
SRC
# shellcheck disable=SC2086 # the flags are meant to be split
(cd "$tmp/rel" && "$cc" -g -O1 -o stuck sub/stuck.c $flags)
status=0
"$tmp/rel/stuck" 2> "$tmp/rel/err" || status=$?
[ "$status" = 2 ] || { cat "$tmp/rel/err"; fail "the deadlock exited with $status, not 2"; }
grep -q "^	$tmp/rel/sub/stuck.c:[0-9]" "$tmp/rel/err" ||
    { cat "$tmp/rel/err"; fail "no frame at $tmp/rel/sub/stuck.c:LINE"; }
echo "ok: $(grep -m1 "sub/stuck.c" "$tmp/rel/err")"

step "find_package(grt)"
"$cmake" -S "$here/consumer" -B "$tmp/consumer" -DCMAKE_PREFIX_PATH="$prefix" \
    -DCMAKE_C_COMPILER="$cc" -DGRT_VERSION="$version" > "$tmp/configure.log" 2>&1 ||
    { cat "$tmp/configure.log"; fail "configuring the consumer project"; }
grt_dir=$(sed -n 's/^grt_DIR:PATH=//p' "$tmp/consumer/CMakeCache.txt")
case $grt_dir in
    "$prefix"/*) ;;
    *) fail "find_package(grt) found '$grt_dir', not the package in $prefix" ;;
esac
"$cmake" --build "$tmp/consumer" > "$tmp/build.log" 2>&1 ||
    { cat "$tmp/build.log"; fail "building the consumer project"; }
out=$("$tmp/consumer/hello") || fail "hello (find_package) exited with status $?"
[ "$out" = "$want" ] || fail "hello (find_package) printed '$out', want '$want'"
echo "$out"
echo "ok: installed grt works through pkg-config and find_package"
