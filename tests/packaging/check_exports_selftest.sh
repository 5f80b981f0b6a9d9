#!/usr/bin/env bash
# check_exports_selftest.sh CHECK_EXPORTS CC AR -- proves that the export
# check can fail.
#
# Builds two small archives the way the library is built (-fvisibility=hidden)
# and runs check_exports.sh on both:
#   good.a: rt_public (default visibility), rt__internal (hidden), a static
#           helper and an undefined reference -> must pass;
#   bad.a:  good.a's object plus stray_global, rt__leaked (an internal name
#           with default visibility) and rt__weak_leak (weak, default) ->
#           must fail and name each of the three, and nothing else.
set -euo pipefail

check=$1 cc=$2 ar=$3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

cat > "$tmp/good.c" <<'C'
extern int rt__elsewhere(void);
__attribute__((visibility("default"))) int rt_public(void);
int rt__internal(void);
static int helper(void) { return rt__elsewhere(); }
int rt__internal(void) { return helper(); }
__attribute__((visibility("default"))) int rt_public(void) { return rt__internal(); }
C
cat > "$tmp/bad.c" <<'C'
__attribute__((visibility("default"))) int stray_global = 1;
__attribute__((visibility("default"))) int rt__leaked(void);
__attribute__((visibility("default"))) int rt__leaked(void) { return 0; }
__attribute__((weak, visibility("default"))) int rt__weak_leak(void);
__attribute__((weak, visibility("default"))) int rt__weak_leak(void) { return 1; }
C
for f in good bad; do
    "$cc" -fvisibility=hidden -c "$tmp/$f.c" -o "$tmp/$f.o"
done
"$ar" rcs "$tmp/good.a" "$tmp/good.o"
"$ar" rcs "$tmp/bad.a" "$tmp/good.o" "$tmp/bad.o"

fail=0
if ! out=$(bash "$check" "$tmp/good.a"); then
    echo "FAIL: a clean archive was rejected:"; echo "$out"; fail=1
fi
if out=$(bash "$check" "$tmp/bad.a"); then
    echo "FAIL: an archive with stray exports was accepted:"; echo "$out"; fail=1
fi
for name in stray_global rt__leaked rt__weak_leak; do
    if ! grep -qw "$name" <<<"$out"; then
        echo "FAIL: the check did not name $name:"; echo "$out"; fail=1
    fi
done
for name in rt_public rt__internal helper; do
    if grep -qw "$name" <<<"$out"; then
        echo "FAIL: the check named $name, which is not an export problem:"; echo "$out"; fail=1
    fi
done
[ "$fail" -eq 0 ] && echo "ok: the export check accepts clean archives and names stray exports"
exit "$fail"
