#!/usr/bin/env bash
# example_server.sh HTTPSVC JSONCHECK_GO -- the debug server of a running
# program, checked with the clients people use on it.
#
# Starts examples/httpsvc (-load 1: one goroutine keeps count_primes hot)
# with both servers on free ports of 127.0.0.1, then:
#   1. go tool pprof -top .../debug/pprof/profile?seconds=2 names
#      count_primes as the hottest function;
#   2. the settings endpoint turns memprofilerate to 1, and the heap
#      profile (go tool pprof, heap?gc=1) then shows remember_result;
#   3. goroutine (pprof, debug=1, debug=2), threadcreate, the index, and
#      symbol GET and POST (an address taken from debug=1 comes back with
#      its name) over curl; cmdline is the argv, NUL-separated;
#   4. /debug/vars decodes with Go's encoding/json into runtime.MemStats
#      (no unknown field), an argument full of characters JSON must escape
#      comes back intact, and GOGC changed through settings shows there
#      (EnableGC false after gogc=off);
#   5. errors: 405, 404, 400 (bad seconds), 431 (9 KB header), 413 (70 KB
#      POST), 408 for a request left unfinished (bash /dev/tcp, ~10 s);
#   6. afterwards both the service and the debug server still answer.
# Exit 0 when all hold; otherwise the failing step and what it saw.
set -euo pipefail

svc=$(realpath "$1") jsoncheck=$(realpath "$2")
tmp=$(mktemp -d)
pid=
cleanup() {
    if [ -n "$pid" ]; then
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    fi
    rm -rf "$tmp"
}
trap cleanup EXIT
fail() {
    echo "FAIL: $*"
    echo "--- httpsvc stderr:"
    tail -n 20 "$tmp/err" || true
    exit 1
}
step() { echo "== $*"; }

# pprof keeps a history under HOME and guesses a path prefix from the
# working directory; go run needs a build cache: all in the temp dir.
export HOME=$tmp GOCACHE=$tmp/gocache GO111MODULE=off
cd "$tmp"

# The last argument (ignored by httpsvc) has everything JSON must escape:
# a quote, a backslash, <&>, a control byte, invalid UTF-8, U+2028.
weird=$'q"\\<&>\x01\xff\xe2\x80\xa8end'
args=(-addr 127.0.0.1:0 -debug 127.0.0.1:0 -load 1 -duration 170 "$weird")
"$svc" "${args[@]}" >"$tmp/out" 2>"$tmp/err" &
pid=$!
for _ in $(seq 100); do
    grep -q "debug server on port" "$tmp/out" 2>/dev/null && break
    sleep 0.1
done
dport=$(sed -n 's/.*debug server on port \([0-9]*\).*/\1/p' "$tmp/out")
sport=$(sed -n 's/.*service on port \([0-9]*\),.*/\1/p' "$tmp/out")
[ -n "$dport" ] && [ -n "$sport" ] || fail "httpsvc did not say where it listens: $(cat "$tmp/out")"
base=http://127.0.0.1:$dport
echo "httpsvc pid $pid: service :$sport, debug server :$dport"

# code URL [curl args...]: the HTTP status only
code() { curl -s -o "$tmp/body" -w '%{http_code}' "$@"; }

step "1. CPU profile through go tool pprof"
go tool pprof -top "$base/debug/pprof/profile?seconds=2" >cpu.top 2>&1 ||
    fail "go tool pprof profile: $(cat cpu.top)"
first=$(awk '/flat%/ {getline; print $6; exit}' cpu.top)
[ "$first" = count_primes ] || fail "hottest function is '$first', want count_primes:
$(cat cpu.top)"
echo "hottest: $first"

step "2. settings memprofilerate=1, then the heap profile"
[ "$(code -d memprofilerate=1 "$base/debug/grt/settings")" = 200 ] &&
    grep -qx memprofilerate=1 body || fail "settings memprofilerate=1: $(cat body)"
sleep 1
# gc=1: the profile shows allocations as of the last collection (Go's
# rule), so collect once after the rate changed
go tool pprof -top -sample_index=alloc_space "$base/debug/pprof/heap?gc=1" >heap.top 2>&1 ||
    fail "go tool pprof heap: $(cat heap.top)"
grep -q remember_result heap.top || fail "no remember_result in the heap profile:
$(cat heap.top)"
[ "$(code "$base/debug/pprof/heap?gc=1&debug=1")" = 200 ] && grep -q "^heap profile: " body ||
    fail "heap?gc=1&debug=1: $(head -c 300 body)"

step "3. goroutine, threadcreate, index, symbol, cmdline"
go tool pprof -top "$base/debug/pprof/goroutine" >g.top 2>&1 || fail "pprof goroutine: $(cat g.top)"
grep -q accept_loop g.top || fail "no accept_loop goroutine: $(cat g.top)"
[ "$(code "$base/debug/pprof/goroutine?debug=1")" = 200 ] &&
    grep -q "^goroutine profile: total " body || fail "goroutine?debug=1: $(head -c 300 body)"
line=$(grep -m1 -P '^#\t0x[0-9a-f]+\t[A-Za-z_]' body) || fail "no frame lines in debug=1"
addr=$(cut -f2 <<<"$line")
name=$(cut -f3 <<<"$line" | sed 's/+0x.*//')
[ "$(code "$base/debug/pprof/goroutine?debug=2")" = 200 ] && grep -q "^goroutine 1 \[" body ||
    fail "goroutine?debug=2: $(head -c 300 body)"
[ "$(code "$base/debug/pprof/threadcreate?debug=1")" = 200 ] &&
    grep -q "^threadcreate profile: total " body || fail "threadcreate: $(head -c 300 body)"
[ "$(code "$base/debug/pprof/")" = 200 ] && grep -q "full goroutine stack dump" body ||
    fail "index: $(head -c 300 body)"
[ "$(code "$base/debug/pprof/symbol")" = 200 ] && [ "$(cat body)" = "num_symbols: 1" ] ||
    fail "symbol GET: $(cat body)"
[ "$(code --data-binary "$addr+0x0" "$base/debug/pprof/symbol")" = 200 ] &&
    [ "$(cat body)" = "num_symbols: 1
$addr $name" ] || fail "symbol POST $addr (want $name): $(cat body)"
echo "symbol: $addr -> $name"
curl -s "$base/debug/pprof/cmdline" >cmdline
printf '%s\0' "$svc" "${args[@]}" | head -c -1 >cmdline.want
cmp -s cmdline cmdline.want || fail "cmdline: '$(tr '\0' ' ' <cmdline)'"

step "4. /debug/vars as Go decodes it; GOGC through settings"
go build -o jsoncheck "$jsoncheck" || fail "building jsoncheck.go"
[ "$(code "$base/debug/vars")" = 200 ] || fail "vars: $(head -c 300 body)"
./jsoncheck "$weird" <body >vars.txt || fail "/debug/vars: $(cat vars.txt)"
grep -q "EnableGC=true" vars.txt || fail "vars before gogc=off: $(cat vars.txt)"
[ "$(code -d gogc=off "$base/debug/grt/settings")" = 200 ] && grep -qx gogc=off body ||
    fail "settings gogc=off: $(cat body)"
curl -s "$base/debug/vars" | ./jsoncheck >vars.txt || fail "/debug/vars: $(cat vars.txt)"
grep -q "EnableGC=false" vars.txt || fail "GOGC off did not reach memstats: $(cat vars.txt)"
[ "$(code "$base/debug/grt/settings?gogc=50&memprofilerate=524288")" = 200 ] &&
    grep -qx gogc=50 body || fail "settings gogc=50: $(cat body)"
[ "$(code "$base/debug/grt/settings?gogc=fifty")" = 400 ] || fail "gogc=fifty: $(cat body)"
curl -s "$base/debug/grt/settings" | grep -qx gogc=50 || fail "an invalid request changed gogc"
cat vars.txt

step "5. errors"
[ "$(code -X DELETE "$base/debug/pprof/heap")" = 405 ] || fail "DELETE heap: $(cat body)"
[ "$(code "$base/debug/pprof/nosuch")" = 404 ] && grep -qx "Unknown profile" body ||
    fail "unknown profile: $(cat body)"
[ "$(code "$base/debug/pprof/profile?seconds=abc")" = 400 ] &&
    grep -qx 'invalid value for "seconds" - must be a positive integer' body ||
    fail "seconds=abc: $(cat body)"
big=$(head -c 9000 /dev/zero | tr '\0' a)
[ "$(code -H "X-Big: $big" "$base/debug/pprof/")" = 431 ] || fail "9 KB header: $(cat body)"
head -c 70000 /dev/zero | tr '\0' + >big.body
[ "$(code --data-binary @big.body "$base/debug/pprof/symbol")" = 413 ] ||
    fail "70 KB POST: $(cat body)"
start=$SECONDS
exec 3<>"/dev/tcp/127.0.0.1/$dport"
printf 'GET /debug/pprof/ HTTP/1.1\r\nHost: x\r\n' >&3
slow=$(timeout 30 cat <&3 || true)
exec 3<&-
grep -q "^HTTP/1.1 408 Request Timeout" <<<"$slow" || fail "unfinished request: '$slow'"
echo "unfinished request: 408 after $((SECONDS - start)) s"

step "6. still serving"
[ "$(curl -s "http://127.0.0.1:$sport/primes?n=1000")" = "168 primes below 1000" ] ||
    fail "the service stopped answering"
[ "$(code "$base/debug/pprof/cmdline")" = 200 ] || fail "the debug server stopped answering"
kill -0 "$pid" || fail "httpsvc died"
echo "ok"
