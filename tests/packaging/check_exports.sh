#!/usr/bin/env bash
# check_exports.sh LIBGRT.A -- fails unless the archive exports only rt_ names.
#
# grt's contract (API.md) is that a program linking libgrt.a sees only the
# public rt_/RT_ names of rt.h.  The library is compiled with
# -fvisibility=hidden and rt.h marks each public function RT_EXTERN
# (visibility "default"); internal cross-file names are rt__xxx and stay
# hidden.  This script reads every object's symbol table with readelf and
# lists each symbol that another object could bind to: defined (Ndx not UND),
# binding GLOBAL, WEAK or UNIQUE, visibility DEFAULT or PROTECTED.  Each such
# name must start with rt_ and not with rt__: an rt__ name with default
# visibility is an internal symbol that leaked (typically an assembler
# .globl without .hidden) and fails the check like any other stray name.
#
# Why readelf and not nm: nm does not print visibility, and visibility is
# the whole point.  Why not link a program and look at its dynamic symbols:
# that tests the linker, not the archive users get.
#
# The parser is proved by check_exports_selftest.sh, which plants bad names
# in a small archive and expects this script to name them.  To keep a format
# change in readelf from turning the check into a no-op, an archive that
# exports no rt_ name at all fails too.
set -euo pipefail

if [ $# -ne 1 ] || [ ! -f "$1" ]; then
    echo "usage: $0 LIBGRT.A" >&2
    exit 2
fi
readelf=${READELF:-readelf}

# readelf -sW on an archive prints "File: lib.a(obj.o)" before each member's
# table, then rows "Num: Value Size Type Bind Vis Ndx Name".
exports=$("$readelf" -sW "$1" | awk '
    /^File: / { obj = $2; next }
    $1 ~ /^[0-9]+:$/ && NF >= 8 {
        bind = $5; vis = $6; ndx = $7; name = $8
        if (ndx == "UND") next
        if (bind != "GLOBAL" && bind != "WEAK" && bind != "UNIQUE") next
        if (vis != "DEFAULT" && vis != "PROTECTED") next
        print obj, name
    }')

bad=$(printf '%s\n' "$exports" | awk 'NF == 2 && ($2 !~ /^rt_/ || $2 ~ /^rt__/)')
good=$(printf '%s\n' "$exports" | awk 'NF == 2 && $2 ~ /^rt_/ && $2 !~ /^rt__/' | wc -l)

if [ -n "$bad" ]; then
    echo "FAIL: $1 exports names outside the rt_ namespace (object, symbol):"
    printf '  %s\n' "$bad"
    echo "Make them static, or give internal rt__ names hidden visibility"
    echo "(C files get it from -fvisibility=hidden; assembler needs .hidden)."
    exit 1
fi
if [ "$good" -eq 0 ]; then
    echo "FAIL: $1 exports no rt_ name at all: an empty library, or readelf's"
    echo "output is no longer understood by this script."
    exit 1
fi
echo "ok: $1 exports $good symbols, all public rt_ names"
