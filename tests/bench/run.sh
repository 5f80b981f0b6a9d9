#!/usr/bin/env bash
#
# tests/bench/run.sh -- build and run grt's benchmarks next to Go's.
#
# Builds grt and the C programs (bench_*.c, CMake targets of
# tests/bench/CMakeLists.txt) and the Go programs (go/<name>/main.go), runs
# each workload's Go and grt versions alternately (Go, grt, Go, grt, ...)
# R times, and prints a Markdown table of the medians, the ratio grt/Go and
# whether the target of BENCHMARKS.md is met.  The table is also written to
# tests/bench/results/latest.md (git-ignored), the raw result lines to
# results/latest.raw.
#
# Why alternate: the host's speed drifts (other tenants, frequency), by
# 25 % for minutes at a time on the machines BENCHMARKS.md was measured on;
# interleaving the two runtimes makes a slow spell hit both, and medians
# drop the outliers.
#
# Each program prints one line "result name=... impl=... unit=... value=...
# key=value ..." and exits non-zero when its own check fails (see bench.h);
# the script only reads that line, so a program can be run by hand too:
#   MAXPROCS=1 build-bench/bench/bench_yield 100000
#
# Adding a workload: write bench_<prog>.c and go/<prog>/main.go, then add
# one line to ROWS below (a program that reports two figures, like mutex,
# gets one line per figure: same program, different key).
#
# Usage: tests/bench/run.sh [options]
#   -w LIST   workloads to run: row names, program names or numbers,
#             comma-separated (default: all); -l lists them
#   -r N      rounds (default 5)
#   -q        quick smoke test: small sizes, 1 round unless -r is given
#             (numbers not comparable with the anchors; checks still apply)
#   -B DIR    use this CMake build dir (configured with GRT_TESTS=ON, the
#             default) instead of configuring build-bench/ in the repo
#   -n        build only, run nothing
#   -l        list the workloads and exit
#   -o FILE   write the table here instead of results/latest.md
#   -h        this help
#
# Exit status: 0 when every selected program built and passed its checks
# (targets missed do not count: that is a finding, not a failure), 1
# otherwise, 2 on a usage or setup error.

set -u -o pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)

# ------------------------------------------------------------ workloads --
#
# One line per row of the table:
#   #|row|program|P|full size|quick size|key|Go anchor|target
# #          the number in BENCHMARKS.md
# row        the name shown (and accepted by -w)
# program    bench_<program>.c and go/<program>/; run once per round even
#            when several rows read it
# P          MAXPROCS (grt) and GOMAXPROCS (Go) for the run
# sizes      argv[1] of the program in full and in quick (-q) mode
# key        which key=value of the result line the row reports ("value"
#            is the headline figure)
# Go anchor  the Go figure of BENCHMARKS.md, for comparing machines
# target     ratio<=X   grt/Go at most X (lower is better)
#            ratio>=X   grt/Go at least X (higher is better: throughput)
#            abs<=X     grt's own figure at most X
ROWS=(
  "1|yield|yield|1|10000000|200000|value|35.7|ratio<=0.33"
  "2|pingpong|pingpong|1|5000000|100000|value|201|ratio<=0.5"
  "3|buffered|buffered|2|10000000|200000|value|29.8|ratio<=0.6"
  "4|spawn|spawn|2|1000000|50000|value|494|ratio<=0.33"
  "5|parked|parked|2|1000000|20000|value|2736|abs<=4300"
  "6|skynet|skynet|2|1000000|10000|value|840|ratio<=0.5"
  "7|threadring|threadring|2|10000000|200000|value|126|ratio<=0.5"
  "8|chameneos|chameneos|2|6000000|50000|value|436|ratio<=0.5"
  "9|mutex|mutex|2|5000000|200000|value|5.98|ratio<=1.0"
  "9|mutex-shards|mutex|2|5000000|200000|shards|4.08|ratio<=1.0"
)

# ------------------------------------------------------------- options --
ROUNDS=5
ROUNDS_SET=0
QUICK=0
SELECT=""
BUILD=""
BUILD_ONLY=0
LIST=0
OUTFILE="$HERE/results/latest.md"

usage() { sed -n '/^# Usage:/,/^[^#]/{/^#/p}' "$0" | sed 's/^# \{0,1\}//'; }

while getopts "w:r:qB:nlo:h" opt; do
  case $opt in
    w) SELECT=$OPTARG ;;
    r) ROUNDS=$OPTARG; ROUNDS_SET=1 ;;
    q) QUICK=1 ;;
    B) BUILD=$OPTARG ;;
    n) BUILD_ONLY=1 ;;
    l) LIST=1 ;;
    o) OUTFILE=$OPTARG ;;
    h) usage; exit 0 ;;
    *) usage >&2; exit 2 ;;
  esac
done
shift $((OPTIND - 1))
if [ $# -ne 0 ]; then usage >&2; exit 2; fi
case $ROUNDS in ''|*[!0-9]*|0) echo "run.sh: -r wants a positive integer" >&2; exit 2 ;; esac
if [ "$QUICK" = 1 ] && [ "$ROUNDS_SET" = 0 ]; then ROUNDS=1; fi

field() { # field <row line> <index 1..9>
  local IFS='|'
  # shellcheck disable=SC2206
  local f=($1)
  echo "${f[$(($2 - 1))]}"
}

if [ "$LIST" = 1 ]; then
  printf '%-3s %-14s %-11s %-2s %-10s %-8s %s\n' '#' row program P size quick target
  for r in "${ROWS[@]}"; do
    printf '%-3s %-14s %-11s %-2s %-10s %-8s %s\n' "$(field "$r" 1)" "$(field "$r" 2)" \
      "$(field "$r" 3)" "$(field "$r" 4)" "$(field "$r" 5)" "$(field "$r" 6)" "$(field "$r" 9)"
  done
  exit 0
fi

# Selected rows: all, or those whose number, row name or program is listed.
SEL_ROWS=()
for r in "${ROWS[@]}"; do
  if [ -z "$SELECT" ]; then SEL_ROWS+=("$r"); continue; fi
  IFS=',' read -r -a wants <<<"$SELECT"
  for w in "${wants[@]}"; do
    if [ "$w" = "$(field "$r" 1)" ] || [ "$w" = "$(field "$r" 2)" ] || [ "$w" = "$(field "$r" 3)" ]; then
      SEL_ROWS+=("$r"); break
    fi
  done
done
if [ ${#SEL_ROWS[@]} -eq 0 ]; then
  echo "run.sh: no workload matches '$SELECT' (-l lists them)" >&2; exit 2
fi
# Programs of the selected rows, each once, in table order.
PROGS=()
for r in "${SEL_ROWS[@]}"; do
  p=$(field "$r" 3)
  case " ${PROGS[*]} " in *" $p "*) ;; *) PROGS+=("$p") ;; esac
done
prog_row() { # first selected row of program $1
  local r
  for r in "${SEL_ROWS[@]}"; do
    if [ "$(field "$r" 3)" = "$1" ]; then echo "$r"; return; fi
  done
}

# --------------------------------------------------------------- build --
command -v cmake >/dev/null || { echo "run.sh: cmake not found" >&2; exit 2; }
command -v go >/dev/null || { echo "run.sh: go not found" >&2; exit 2; }

if [ -z "$BUILD" ]; then
  BUILD="$REPO/build-bench"
  if [ ! -f "$BUILD/CMakeCache.txt" ]; then
    echo "== configuring $BUILD" >&2
    mkdir -p "$BUILD"
    cmake -S "$REPO" -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
      -DGRT_TESTS=ON -DGRT_EXAMPLES=OFF >"$BUILD/configure.log" 2>&1 || {
      echo "run.sh: cmake configure failed, see $BUILD/configure.log" >&2; exit 2; }
  fi
elif [ ! -f "$BUILD/CMakeCache.txt" ]; then
  echo "run.sh: $BUILD is not a CMake build dir" >&2; exit 2
fi
BUILD=$(cd "$BUILD" && pwd)
cache_get() { sed -n "s/^$1:[A-Z]*=//p" "$BUILD/CMakeCache.txt" | head -n1; }
BUILD_TYPE=$(cache_get CMAKE_BUILD_TYPE)
for opt in GRT_ASAN GRT_TSAN; do
  if [ "$(cache_get $opt)" = "ON" ]; then
    echo "run.sh: warning: $BUILD has $opt=ON; timings will not mean much" >&2
  fi
done
if [ "$(cache_get GRT_DEBUG)" != "" ] && [ "$(cache_get GRT_DEBUG)" != "0" ]; then
  echo "run.sh: warning: $BUILD has GRT_DEBUG=$(cache_get GRT_DEBUG)" >&2
fi

LOGDIR="$BUILD/bench/logs"
GOBIN_DIR="$BUILD/bench/go"
mkdir -p "$LOGDIR" "$GOBIN_DIR"

echo "== building grt in $BUILD" >&2
if ! cmake --build "$BUILD" --target grt -j2 >"$LOGDIR/build-grt.log" 2>&1; then
  echo "run.sh: building grt failed, see $LOGDIR/build-grt.log" >&2
  tail -n 20 "$LOGDIR/build-grt.log" >&2
  exit 2
fi

# C_OK[p] / GO_OK[p]: 1 if the program built.  A C program may not link
# yet (the runtime piece it needs has not landed): its rows say so and the
# others still run.
declare -A C_OK=() GO_OK=()
for p in "${PROGS[@]}"; do
  if cmake --build "$BUILD" --target "bench_$p" -j2 >"$LOGDIR/build-c-$p.log" 2>&1; then
    C_OK[$p]=1
  else
    C_OK[$p]=0
    echo "run.sh: grt $p: build failed (last lines of $LOGDIR/build-c-$p.log):" >&2
    grep -E 'error|undefined reference' "$LOGDIR/build-c-$p.log" | head -n 5 >&2
  fi
  # Module mode against the local go.mod: no dependencies, no network.
  if (cd "$HERE/go" && GO111MODULE=on GOFLAGS=-mod=mod GOPROXY=off GOWORK=off \
        go build -o "$GOBIN_DIR/$p" "./$p") >"$LOGDIR/build-go-$p.log" 2>&1; then
    GO_OK[$p]=1
  else
    GO_OK[$p]=0
    echo "run.sh: go $p: build failed, see $LOGDIR/build-go-$p.log" >&2
  fi
done
[ "$BUILD_ONLY" = 1 ] && { echo "== built (-n: not running)" >&2; exit 0; }

# ----------------------------------------------------------------- run --
# One run: prints the result line on stdout, or nothing on failure (and
# records why in FAILS).  Both runtimes get a clean environment for their
# knobs, and a timeout so that a hang (a lost wake-up) ends the round.
RAW="$BUILD/bench/latest.raw"
: >"$RAW"
declare -A FAILS=()
if [ "$QUICK" = 1 ]; then TIMEOUT=120; else TIMEOUT=900; fi

run_one() { # run_one <impl> <program> <P> <size>; sets LINE
  local impl=$1 p=$2 procs=$3 size=$4 bin out rc log knob
  log="$LOGDIR/run-$impl-$p.log"
  if [ "$impl" = go ]; then
    bin="$GOBIN_DIR/$p"; knob=GOMAXPROCS
  else
    bin="$BUILD/bench/bench_$p"; knob=MAXPROCS
  fi
  out=$(env -u GODEBUG -u GOGC -u DEBUG -u GOMAXPROCS -u MAXPROCS "$knob=$procs" \
        timeout "$TIMEOUT" "$bin" "$size" 2>"$log")
  rc=$?
  LINE=$(printf '%s\n' "$out" | grep -m1 '^result ')
  if [ $rc -ne 0 ] || [ -z "$LINE" ]; then
    local why="exit $rc"
    [ $rc -eq 124 ] && why="timeout ${TIMEOUT}s"
    FAILS[$impl.$p]="$why: $(grep -m1 -E 'FAIL|fatal' "$log" | cut -c1-160)"
    echo "run.sh: $impl $p failed ($why), see $log" >&2
    return 1
  fi
  echo "$LINE" >>"$RAW"
}

# Values: one file per (impl, program, key) with one number per round.
VALDIR="$BUILD/bench/values"
rm -rf "$VALDIR"; mkdir -p "$VALDIR"
record() { # record <impl> <program> <result line>
  local kv
  for kv in $3; do
    case $kv in *=*) echo "${kv#*=}" >>"$VALDIR/$1.$2.${kv%%=*}" ;; esac
  done
}

for ((round = 1; round <= ROUNDS; round++)); do
  for p in "${PROGS[@]}"; do
    r=$(prog_row "$p")
    procs=$(field "$r" 4)
    if [ "$QUICK" = 1 ]; then size=$(field "$r" 6); else size=$(field "$r" 5); fi
    for impl in go grt; do
      if [ "$impl" = go ]; then ok=${GO_OK[$p]}; else ok=${C_OK[$p]}; fi
      [ "$ok" = 1 ] || continue
      [ -n "${FAILS[$impl.$p]:-}" ] && continue   # failed once: stop
      echo "== round $round/$ROUNDS: $impl $p (P=$procs, n=$size)" >&2
      if run_one "$impl" "$p" "$procs" "$size"; then
        echo "   $LINE" >&2
        record "$impl" "$p" "$LINE"
      fi
    done
  done
done

# --------------------------------------------------------------- table --
median() { # median of the numbers in file $1 (empty if none)
  [ -s "$1" ] || return 0
  # Integers stay whole, large numbers get one decimal, small ones four
  # significant digits.
  sort -g "$1" | awk '{ v[NR] = $1 } END {
    m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2;
    a = m < 0 ? -m : m;
    if (m == int(m)) printf "%.0f", m;
    else if (a >= 100) printf "%.1f", m;
    else printf "%.4g", m }'
}
first_of() { [ -s "$1" ] && head -n1 "$1"; }

TABLE="$BUILD/bench/latest.md"
{
  echo "# grt vs Go benchmarks"
  echo
  echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC'); commit $(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo '?')$(git -C "$REPO" diff --quiet 2>/dev/null || echo ' (dirty)')"
  echo "- machine: $(nproc) CPUs, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n1); $(uname -sr)"
  echo "- $(go version | sed 's/^go version //'); grt build: $BUILD_TYPE ($BUILD)"
  if [ "$QUICK" = 1 ]; then
    echo "- **quick mode**: small sizes, $ROUNDS round(s) -- a smoke test; the figures are not comparable with the anchors"
  else
    echo "- medians of $ROUNDS rounds, Go and grt run alternately"
  fi
  echo
  echo "| # | workload | P | unit | Go anchor | Go | grt | grt/Go | target | met |"
  echo "|---|---|---|---|---|---|---|---|---|---|"
} >"$TABLE"

STATUS=0
for r in "${SEL_ROWS[@]}"; do
  num=$(field "$r" 1); row=$(field "$r" 2); p=$(field "$r" 3)
  procs=$(field "$r" 4); key=$(field "$r" 7); anchor=$(field "$r" 8)
  target=$(field "$r" 9)
  unit=$(first_of "$VALDIR/grt.$p.unit"); [ -n "$unit" ] || unit=$(first_of "$VALDIR/go.$p.unit")
  gom=$(median "$VALDIR/go.$p.$key")
  grtm=$(median "$VALDIR/grt.$p.$key")

  # The ratio is judged unrounded (0.504 misses 0.5) and shown rounded.
  ratio=""; rawratio=""
  if [ -n "$gom" ] && [ -n "$grtm" ]; then
    rawratio=$(awk -v a="$grtm" -v b="$gom" 'BEGIN { if (b > 0) printf "%.6f", a / b }')
    ratio=$(awk -v x="$rawratio" 'BEGIN { if (x != "") printf "%.2f", x }')
  fi
  limit=${target#*=}
  case $target in
    ratio\<=*) tshow="≤ ${limit}x Go"; have=$rawratio; cmp='<=' ;;
    ratio\>=*) tshow="≥ ${limit}x Go"; have=$rawratio; cmp='>=' ;;
    abs\<=*)   tshow="≤ $limit"; have=$grtm; cmp='<=' ;;
    abs\>=*)   tshow="≥ $limit"; have=$grtm; cmp='>=' ;;
    *) echo "run.sh: bad target '$target' of $row" >&2; exit 2 ;;
  esac
  if [ -n "$have" ]; then
    met=$(awk -v h="$have" -v l="$limit" -v c="$cmp" \
      'BEGIN { ok = (c == "<=") ? (h <= l) : (h >= l); print ok ? "yes" : "**no**" }')
  else
    met="n/a"
  fi

  cell() { # cell <impl> <median>: the median, or why there is none
    if [ -n "$2" ]; then echo "$2"; return; fi
    local ok
    if [ "$1" = go ]; then ok=${GO_OK[$p]}; else ok=${C_OK[$p]}; fi
    if [ "$ok" != 1 ]; then echo "build failed"; return; fi
    if [ -n "${FAILS[$1.$p]:-}" ]; then echo "FAILED (${FAILS[$1.$p]%%:*})"; return; fi
    echo "-"
  }
  gocell=$(cell go "$gom"); grtcell=$(cell grt "$grtm")
  if [ -z "$gom" ] || [ -z "$grtm" ]; then STATUS=1; fi
  echo "| $num | $row | $procs | ${unit:-} | $anchor | $gocell | $grtcell | ${ratio:+${ratio}x} | $tshow | $met |" >>"$TABLE"
done

# The other keys of each program's result line (sizes, per-run figures,
# parked's mapping count against vm.max_map_count...): medians, or the
# first value when not numeric.
{
  echo
  echo "Other figures (medians):"
  echo
  for p in "${PROGS[@]}"; do
    for impl in go grt; do
      kvs=""
      for f in "$VALDIR/$impl.$p".*; do
        [ -s "$f" ] || continue
        key=${f##*/"$impl.$p".}
        case $key in name|impl|unit|value) continue ;; esac
        if grep -qvE '^-?[0-9.]+(e[-+]?[0-9]+)?$' "$f"; then v=$(head -n1 "$f"); else v=$(median "$f"); fi
        kvs="$kvs $key=$v"
      done
      [ -n "$kvs" ] && echo "- $p $impl:$kvs"
    done
  done
} >>"$TABLE"

if [ ${#FAILS[@]} -gt 0 ]; then
  {
    echo
    echo "Failures:"
    for k in "${!FAILS[@]}"; do echo "- $k: ${FAILS[$k]}"; done
  } >>"$TABLE"
fi

mkdir -p "$(dirname "$OUTFILE")"
cp "$TABLE" "$OUTFILE"
cp "$RAW" "${OUTFILE%.md}.raw" 2>/dev/null || true
cat "$TABLE"
echo >&2
echo "== table written to $OUTFILE" >&2
exit $STATUS
