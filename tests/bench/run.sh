#!/usr/bin/env bash
#
# tests/bench/run.sh -- build and run grt's benchmarks next to Go's (and
# Boehm GC's).
#
# Builds grt and the C programs (bench_*.c, CMake targets of
# tests/bench/CMakeLists.txt), the Go programs (go/<name>/: main.go, or a
# testing.B benchmark <name>_test.go) and,
# for the collector workloads, the Boehm GC programs (boehm/<name>.c, CMake
# targets boehm_<name>, built when libgc-dev is installed), runs each
# workload's versions alternately (Go, grt, Boehm, Go, grt, Boehm, ...) R
# times, and prints a Markdown table of the medians, the ratios grt/Go (and
# grt/Boehm) and whether the target of BENCHMARKS.md is met.  The table is
# also written to tests/bench/results/latest.md (git-ignored), the raw
# result lines to results/latest.raw.
#
# Why alternate: the host's speed drifts (other tenants, frequency), by
# 25 % for minutes at a time on the machines BENCHMARKS.md was measured on;
# interleaving the two runtimes makes a slow spell hit both, and medians
# drop the outliers.
#
# Each program prints one line "result name=... impl=... unit=... value=...
# key=value ..." and exits non-zero when its own check fails (see bench.h);
# the script only reads that line, so a program can be run by hand too:
#   MAXPROCS=1 build-bench/bench/bench_parked 20000
#
# The per-operation workloads (yield, pingpong, buffered, spawn,
# threadring, chameneos, mutex, alloc: ns per operation) are Go-style
# benchmarks instead, on both sides: the C program runs its benchmark
# functions with rt_bench_main, and go/<prog>/<prog>_test.go is a
# testing.B benchmark built with `go test -c`.  The script runs both with
#   -test.bench=. -test.benchtime=<N>x -test.count=1
# (N: the row's size, in operations; the Go binary also gets
# -test.run='^$') and turns their Go result lines into the result line
# above (bench_to_result): BenchmarkYield-1 gives value= (its ns/op) and
# n=, BenchmarkMutexShards-2 gives shards= (the suffix after the
# program's name), every other metric its unit (B/op: B_op=,
# c3_ns: c3_ns=).  A version is taken for a Go-style benchmark when its
# C source calls rt_bench_main or its Go directory holds a _test.go, so
# each side can move on its own.  By hand, either side reads like `go test
# -bench` output (and benchstat takes both):
#   MAXPROCS=1 build-bench/bench/bench_yield -benchtime=1s -count=5
#   GOMAXPROCS=1 build-bench/bench/go/yield -test.bench=. -test.count=5
#
# Adding a workload: write bench_<prog>.c and go/<prog>/ (main.go, or
# <prog>_test.go when the figure is per operation: a Go-style benchmark,
# see above and bench.h), and boehm/<prog>.c if Boehm is an anchor; then
# add one line to ROWS below (a program that reports two figures, like
# mutex, gets one line per figure: same program, different key).
#
# Workload 14, echo, is a server and a client: bench_echo.c (grt) and
# go/echo (Go) are TCP echo servers with a goroutine per connection, and
# echo_load.c is the one load client for both (plain C, epoll, one
# thread).  run.sh runs `echo_load <server> CONNS SECONDS`, which starts
# the server pinned to CPU 0, pins itself to CPU 1, measures and prints the
# result line.  Programs named echo_<anything> (echo_p2, echo_c1000) are
# the same binaries, listed again to run at another P or size.
#   echo        14: round trips/s, 64 connections x 64 bytes, P=1; >= Go
#   echo-p99    14: their 99th percentile latency, us; <= Go's
#   echo-cpu    14: server CPU per round trip, us (the client saturates
#               its CPU first on fast servers: this tells them apart)
#   echo-p2     14: the same at P=2 (the server still pinned to one CPU)
#   echo-1000   14: 1000 connections, P=1; BENCHMARKS.md's >= 1.5x Go
#   netpingpong 14: ns per round trip of four client/server pairs over
#               loopback TCP in one process, P=2 (not BENCHMARKS.md's;
#               a Go-style benchmark); <= Go's
#
# The collector workloads (10-13) and their rows:
#   binarytrees        10: seconds for the benchmarks-game program at depth
#                      21, one goroutine; target <= 0.7x Go
#   binarytrees-rss    10: its peak RSS (VmHWM), MB; target <= Go's
#   binarytrees-pause  10: its longest pause, us (Boehm: longest
#                      collection); reported, no target
#   gcbench            11: Ellis/Kovac/Boehm GCBench, ms; target <= Boehm
#                      (the row compares grt with Boehm: target boehm<=1.0)
#   gclatency-stw      12: longest stop-the-world pause during 10 s of
#                      garbage at 512 MiB/s over 1 GiB live, us; < 1000
#   gclatency-stall    12: longest mutator stall (gap between batches
#                      beyond the pacing), ms; target < Go's
#   gclatency-cpu      12: GC CPU, % of one CPU: (process CPU of the phase -
#                      the same loop's CPU with the collector off) / wall;
#                      target <= Go's.  The (4.3) anchor of BENCHMARKS.md
#                      was measured under another definition (it looks like
#                      Go's GCCPUFraction: of 2 CPUs, since program start);
#                      compare the ratio, not that anchor.
#   gcgrow             12's companion (not in BENCHMARKS.md): a heap grown
#                      to 8M live 64-byte objects (512 MiB), then 8M random
#                      replacements, one goroutine, P=1; ns per object
#                      built and replaced; target <= Go's
#   gcgrow-stall       its longest gap between two checkpoints 1024
#                      allocations apart, ms: an allocation that waits out
#                      a mark phase shows here; target <= Go's
#   gcgrow-g50         the same program at P=2 with GOGC=50 on both sides
#   gcgrow-g50-stall   (program gcgrow_g50: PROG_ENV below), where the heap
#                      outruns the marking and meets the hard goal
#                      (gc/collector.c, hard_throttle); targets <= Go's
#   alloc              13: ns per 16-byte allocation, 50M of them, each
#                      stored to a global and dropped; target <= 0.5x Go
#                      (Boehm's result line also carries malloc+free as
#                      malloc_ns)
# The Boehm versions run with GC_MARKERS=P (P parallel markers, started
# explicitly) and otherwise Boehm's defaults: see boehm/boehm_bench.h.
#
# Workload 15, tracer cost, compares grt with itself: one C program run in
# several ways (VARIANTS below: a variant program <program>_<how> is the
# binary bench_<program> run with extra environment, grt only -- no Go or
# Boehm run), each way once per round, alternately.  A row's target
# <base><=X judges its median against the median of the variant program
# <base> (the untraced run), which is run whenever such a row is selected:
#   bt-untraced        15: binarytrees 21 with no tracer, s (the base)
#   bt-gctrace         15: with DEBUG=gctrace=1,schedtrace=1000 (stderr
#                      to the run's log); target <= 1.02x untraced
#   bt-cpuprof         15: with CPUPROFILE (100 Hz, every thread, written
#                      at exit; value ends before the write); <= 1.03x
#   bt-*-cpu           the same runs' CPU time (user + system, GNU time:
#                      every variant run records cpu_s), against the
#                      untraced run's: the cost when the host is loaded
#                      and wall time mostly measures the share of CPU a
#                      run was given
#   alloc-nomemprof    13's alloc loop with heap profiling off
#                      (DEBUG=memprofilerate=0), ns per allocation; 200M
#                      allocations rather than 50M, so that CPU time
#                      (10 ms ticks) resolves 0.5 %
#   alloc-memprof      with the default MemProfileRate (512 KiB), the
#                      cost grt always pays, as Go does; <= 1.02x off
#                      (not in BENCHMARKS.md: a bound of the tracer-cost
#                      work)
#   skynet-untraced    6's skynet with no tracer, ms per tree (the base);
#                      10 trees of 1M leaves in one run (bench_skynet's
#                      argv[2]), so that CPU time (10 ms steps) resolves
#                      0.25 %: one tree is about 0.4 s of CPU
#   skynet-cpuprof     with CPUPROFILE (100 Hz, as bt-cpuprof); <= 1.03x
#                      untraced (BENCHMARKS.md's workload 15 names binary-
#                      trees; issue 7 adds skynet, a million short-lived
#                      goroutines: profiling's cost per thread and signal
#                      meets the scheduler rather than the collector)
#   skynet-*-cpu       the same runs' CPU time, as bt-*-cpu
#
# Workload 16, finalizers, is grt's own (not in BENCHMARKS.md): 2M live
# 64-byte objects with finalizers, each the only holder of a child, and 10
# s of garbage allocation that rewires them (bench_finalizers.c says why):
#   finalizers         the longest stop-the-world pause of that phase, us;
#                      < 1 ms (issue 5's bound on every pause)
#   finalizers-rss     peak RSS, MB; <= Go
#
# Workload 17, many parked goroutines, is grt's own too: 100k goroutines
# parked over a 16-byte object each while goroutine 1 makes 20M 16-byte
# allocations (bench_manyparked.c):
#   manyparked         the allocations' time, ms (no target: the row
#                      shows the pacing that counts goroutine stacks)
#   manyparked-gcs     collections during them
#   manyparked-pause   the longest stop among them, us (every parked
#                      stack is reread in it: gc/collector.c says why)
#
# Workload 18, a fan-in by select, is grt's own too: eight producers, each
# with its own channel of capacity 16, one receiver selecting over the
# eight (bench_selectfanin.c, a Go-style benchmark; selectfanin_p2 is the
# same binaries listed again to run at P=2):
#   selectfanin        ns per element, P=1; <= Go
#   selectfanin-p2     the same at P=2; <= Go
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
#   #|row|program|P|full size|quick size|key|Go anchor|target[|Boehm anchor]
# #          the number in BENCHMARKS.md
# row        the name shown (and accepted by -w)
# program    bench_<program>.c and go/<program>/; run once per round even
#            when several rows read it
# P          MAXPROCS (grt), GOMAXPROCS (Go) and GC_MARKERS (Boehm) for
#            the run
# sizes      the program's arguments in full and in quick (-q) mode:
#            argv[1], or several separated by spaces ("16777216 10");
#            for a Go-style benchmark the number of operations b.N (yield:
#            20M, BENCHMARKS.md's 2 goroutines x 10M yields; mutex: 10M
#            rounds of the two goroutines; chameneos: 12M meetings, 6M in
#            each game)
# key        which key=value of the result line the row reports ("value"
#            is the headline figure); key:unit when its unit is not the
#            headline's (rss_mb:MB)
# Go anchor  the Go figure of BENCHMARKS.md, for comparing machines
# target     ratio<=X   grt/Go at most X (lower is better)
#            ratio>=X   grt/Go at least X (higher is better: throughput)
#            abs<=X     grt's own figure at most X
#            boehm<=X   grt/Boehm at most X (the program has a Boehm
#                       version, boehm/<program>.c)
#            P<=X       this row's figure / the figure of variant
#                       program P (same key) at most X: workload 15
#            the same with < or > for strict bounds (ratio<1.0), and
#            - for a figure reported without a target
# Boehm      the Boehm figure of BENCHMARKS.md (rows of programs with a
#  anchor    Boehm version; optional)
ROWS=(
  "1|yield|yield|1|20000000|400000|value|35.7|ratio<=0.33"
  "2|pingpong|pingpong|1|5000000|100000|value|201|ratio<=0.5"
  "2|pingpong-timer|pingpong|1|5000000|100000|timer|-|ratio<=0.5"
  "3|buffered|buffered|2|10000000|200000|value|29.8|ratio<=0.6"
  "4|spawn|spawn|2|1000000|50000|value|494|ratio<=0.33"
  "5|parked|parked|2|1000000|20000|value|2736|abs<=4300"
  "6|skynet|skynet|2|1000000|10000|value|840|ratio<=0.5"
  "7|threadring|threadring|2|10000000|200000|value|126|ratio<=0.5"
  "8|chameneos|chameneos|2|12000000|100000|value|436|ratio<=0.5"
  "9|mutex|mutex|2|10000000|400000|value|5.98|ratio<=1.0"
  "9|mutex-shards|mutex|2|10000000|400000|shards|4.08|ratio<=1.0"
  "10|binarytrees|binarytrees|2|21|16|value|17.7|ratio<=0.7|18.5"
  "10|binarytrees-rss|binarytrees|2|21|16|rss_mb:MB|241|ratio<=1.0|324"
  "10|binarytrees-pause|binarytrees|2|21|16|maxpause_us:µs|157|-|101000"
  "11|gcbench|gcbench|2|16|12|value|440|boehm<=1.0|297"
  "12|gclatency-stw|gclatency|2|16777216 10|1048576 1|stw_us:µs|86|abs<1000|372000"
  "12|gclatency-stall|gclatency|2|16777216 10|1048576 1|value|21|ratio<1.0|372"
  "12|gclatency-cpu|gclatency|2|16777216 10|1048576 1|gccpu_pct:%|(4.3)|ratio<=1.0"
  "12|gcgrow|gcgrow|1|8000000|1000000|value|-|ratio<=1.0"
  "12|gcgrow-stall|gcgrow|1|8000000|1000000|stall_ms:ms|-|ratio<=1.0"
  "12|gcgrow-g50|gcgrow_g50|2|8000000|1000000|value|-|ratio<=1.0"
  "12|gcgrow-g50-stall|gcgrow_g50|2|8000000|1000000|stall_ms:ms|-|ratio<=1.0"
  "13|alloc|alloc|2|50000000|2000000|value|19.9|ratio<=0.5|18.6"
  "14|echo|echo|1|64 10|64 2|value|148000|ratio>=1.0"
  "14|echo-p99|echo|1|64 10|64 2|p99_us:µs|1000|ratio<=1.0"
  "14|echo-cpu|echo|1|64 10|64 2|cpu_us:µs|6.6|-"
  "14|echo-p2|echo_p2|2|64 10|64 2|value|-|ratio>=1.0"
  "14|echo-p2-p99|echo_p2|2|64 10|64 2|p99_us:µs|-|ratio<=1.0"
  "14|echo-1000|echo_c1000|1|1000 10|1000 2|value|91000|ratio>=1.5"
  "14|netpingpong|netpingpong|2|400000|20000|value|-|ratio<=1.0"
  "15|bt-untraced|binarytrees_none|2|21|16|value|-|-"
  "15|bt-gctrace|binarytrees_gctrace|2|21|16|value|-|binarytrees_none<=1.02"
  "15|bt-cpuprof|binarytrees_cpuprof|2|21|16|value|-|binarytrees_none<=1.03"
  "15|bt-untraced-cpu|binarytrees_none|2|21|16|cpu_s:s|-|-"
  "15|bt-gctrace-cpu|binarytrees_gctrace|2|21|16|cpu_s:s|-|binarytrees_none<=1.02"
  "15|bt-cpuprof-cpu|binarytrees_cpuprof|2|21|16|cpu_s:s|-|binarytrees_none<=1.03"
  "15|alloc-nomemprof|alloc_nomemprof|2|200000000|2000000|value|-|-"
  "15|alloc-memprof|alloc_memprof|2|200000000|2000000|value|-|alloc_nomemprof<=1.02"
  "15|alloc-nomemprof-cpu|alloc_nomemprof|2|200000000|2000000|cpu_s:s|-|-"
  "15|alloc-memprof-cpu|alloc_memprof|2|200000000|2000000|cpu_s:s|-|alloc_nomemprof<=1.02"
  "15|skynet-untraced|skynet_none|2|1000000 10|10000 1|value|-|-"
  "15|skynet-cpuprof|skynet_cpuprof|2|1000000 10|10000 1|value|-|skynet_none<=1.03"
  "15|skynet-untraced-cpu|skynet_none|2|1000000 10|10000 1|cpu_s:s|-|-"
  "15|skynet-cpuprof-cpu|skynet_cpuprof|2|1000000 10|10000 1|cpu_s:s|-|skynet_none<=1.03"
  "16|finalizers|finalizers|2|2000000 10|200000 1|value|-|abs<1000"
  "16|finalizers-rss|finalizers|2|2000000 10|200000 1|rss_mb:MB|-|ratio<=1.0"
  "17|manyparked|manyparked|2|100000 20000000|2000 200000|value|-|-"
  "17|manyparked-gcs|manyparked|2|100000 20000000|2000 200000|num_gc:cycles|-|-"
  "17|manyparked-pause|manyparked|2|100000 20000000|2000 200000|maxpause_us:µs|-|-"
  "18|selectfanin|selectfanin|1|2000000|100000|value|-|ratio<=1.0"
  "18|selectfanin-p2|selectfanin_p2|2|2000000|100000|value|-|ratio<=1.0"
)

# Variant programs (workload 15): the environment each adds to its run
# (words NAME=value; @LOG@ is the log directory).  The base program is the
# part of the name before the last _.
declare -A VARIANTS=(
  [binarytrees_none]=""
  [binarytrees_gctrace]="DEBUG=gctrace=1,schedtrace=1000"
  [binarytrees_cpuprof]="CPUPROFILE=@LOG@/binarytrees_cpuprof.pprof"
  [alloc_nomemprof]="DEBUG=memprofilerate=0"
  [alloc_memprof]=""
  [skynet_none]=""
  [skynet_cpuprof]="CPUPROFILE=@LOG@/skynet_cpuprof.pprof"
)
is_variant() { [ -n "${VARIANTS[$1]+set}" ]; }

# Programs run under another setting on every side (Go, grt and Boehm
# alike): the environment each adds (words NAME=value).  Such a program's
# base is the part of its name before the last _, as a variant's.
declare -A PROG_ENV=(
  [gcgrow_g50]="GOGC=50"
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

field() { # field <row line> <index 1..10>; empty if the row has fewer
  local f
  IFS='|' read -r -a f <<<"$1"   # (read: no pathname expansion of fields)
  echo "${f[$(($2 - 1))]:-}"
}

if [ "$LIST" = 1 ]; then
  printf '%-3s %-18s %-19s %-2s %-12s %-10s %s\n' '#' row program P size quick target
  for r in "${ROWS[@]}"; do
    printf '%-3s %-18s %-19s %-2s %-12s %-10s %s\n' "$(field "$r" 1)" "$(field "$r" 2)" \
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
# Programs of the selected rows, each once, in table order; a row judged
# against a variant program brings that program in, before its own.
PROGS=()
add_prog() {
  case " ${PROGS[*]} " in *" $1 "*) ;; *) PROGS+=("$1") ;; esac
}
for r in "${SEL_ROWS[@]}"; do
  t=$(field "$r" 9); t=${t%%[<>]*}
  if is_variant "$t"; then add_prog "$t"; fi
  add_prog "$(field "$r" 3)"
done
prog_base() { # the binaries program $1 runs: echo_p2 -> echo
  if is_variant "$1"; then echo "${1%_*}"; return; fi
  if [ -n "${PROG_ENV[$1]+set}" ]; then echo "${1%_*}"; return; fi
  case $1 in echo_*) echo echo ;; selectfanin_*) echo selectfanin ;; *) echo "$1" ;; esac
}
prog_row() { # first row of program $1 (selected rows first)
  local r
  for r in "${SEL_ROWS[@]}" "${ROWS[@]}"; do
    if [ "$(field "$r" 3)" = "$1" ]; then echo "$r"; return; fi
  done
}

# A version of a program is a Go-style benchmark (see the header): the C
# source calls rt_bench_main, the Go directory holds a _test.go.
is_gobench() { # is_gobench <impl> <base program>
  case $1 in
    grt) grep -q 'rt_bench_main\|bench_run(' "$HERE/bench_$2.c" 2>/dev/null ;;
    go) compgen -G "$HERE/go/$2/*_test.go" >/dev/null ;;
    *) return 1 ;;
  esac
}

# Go result lines on stdin -> one result line (see the header).  Fails
# (prints nothing) when no benchmark is named after the program.
bench_to_result() { # bench_to_result <base program> <impl>
  awk -F'\t' -v prog="$1" -v impl="$2" '
    /^Benchmark/ {
      name = $1; sub(/ +$/, "", name); procs = 1
      if (match(name, /-[0-9]+$/)) {
        procs = substr(name, RSTART + 1); name = substr(name, 1, RSTART - 1)
      }
      name = tolower(substr(name, 10))
      if (name == prog) prefix = ""
      else if (index(name, prog) == 1) prefix = substr(name, length(prog) + 1) "_"
      else prefix = name "_"
      if (prefix == "") { found = 1; n = $2 + 0; p = procs }
      for (i = 3; i <= NF; i++) {
        f = $i; gsub(/^ +| +$/, "", f)
        if (split(f, w, / +/) != 2) continue
        unit = w[2]; gsub("/", "_", unit)
        if (unit == "ns_op") key = prefix == "" ? "value" : substr(prefix, 1, length(prefix) - 1)
        else key = prefix unit
        if (key == "value") value = w[1]; else extra = extra " " key "=" w[1]
      }
    }
    END {
      if (!found || value == "") exit 1
      printf "result name=%s impl=%s unit=ns/op value=%s procs=%s n=%d%s\n", prog, impl, value, p, n, extra
    }'
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

# C_OK[p] / GO_OK[p] / BOEHM_OK[p]: 1 if the program built.  A C program
# may not link yet (the runtime piece it needs has not landed): its rows say
# so and the others still run.  HAS_BOEHM[p]: the program has a Boehm
# version (boehm/<p>.c); HAVE_BOEHM: some selected program has one, and
# the table gets Boehm columns.
declare -A C_OK=() GO_OK=() BOEHM_OK=() HAS_BOEHM=()
HAVE_BOEHM=0
for p in "${PROGS[@]}"; do
  if is_variant "$p"; then # grt only: no Go or Boehm version to build
    HAS_BOEHM[$p]=0; BOEHM_OK[$p]=0; GO_OK[$p]=0
  elif [ -f "$HERE/boehm/$p.c" ]; then
    HAS_BOEHM[$p]=1; HAVE_BOEHM=1
    if cmake --build "$BUILD" --target "boehm_$p" -j2 >"$LOGDIR/build-boehm-$p.log" 2>&1; then
      BOEHM_OK[$p]=1
    else
      BOEHM_OK[$p]=0
      echo "run.sh: boehm $p: build failed (is libgc-dev installed? see $LOGDIR/build-boehm-$p.log)" >&2
    fi
  else
    HAS_BOEHM[$p]=0; BOEHM_OK[$p]=0
  fi
  b=$(prog_base "$p")
  extra=()
  [ "$b" = echo ] && extra=(--target echo_load)
  if cmake --build "$BUILD" --target "bench_$b" "${extra[@]}" -j2 >"$LOGDIR/build-c-$p.log" 2>&1; then
    C_OK[$p]=1
  else
    C_OK[$p]=0
    echo "run.sh: grt $p: build failed (last lines of $LOGDIR/build-c-$p.log):" >&2
    grep -E 'error|undefined reference' "$LOGDIR/build-c-$p.log" | head -n 5 >&2
  fi
  # Module mode against the local go.mod: no dependencies, no network.  A
  # Go-style benchmark is a test binary (no vet: it is not a test run).
  gocmd=(go build)
  is_gobench go "$b" && gocmd=(go test -c -vet=off)
  if is_variant "$p"; then
    :
  elif (cd "$HERE/go" && GO111MODULE=on GOFLAGS=-mod=mod GOPROXY=off GOWORK=off \
        "${gocmd[@]}" -o "$GOBIN_DIR/$b" "./$b") >"$LOGDIR/build-go-$p.log" 2>&1; then
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
# The host's load before and after the runs goes into the table: other
# tenants' work on a 2-CPU machine moves the figures more than anything
# grt does, and the collector workloads use both CPUs.
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null)
: >"$RAW"
declare -A FAILS=()
if [ "$QUICK" = 1 ]; then TIMEOUT=120; else TIMEOUT=900; fi

# Boehm reads many GC_* variables (GC_INITIAL_HEAP_SIZE, GC_NPROCS, ...):
# its runs get none of them from the caller.
BOEHM_UNSET=()
for v in $(compgen -e); do
  case $v in GC_*) BOEHM_UNSET+=(-u "$v") ;; esac
done

run_one() { # run_one <impl> <program> <P> <size>; sets LINE
  local impl=$1 p=$2 procs=$3 size=$4 bin out rc log knob args unset=()
  log="$LOGDIR/run-$impl-$p.log"
  local b
  b=$(prog_base "$p")
  case $impl in
    go) bin="$GOBIN_DIR/$b"; knob=GOMAXPROCS ;;
    grt) bin="$BUILD/bench/bench_$b"; knob=MAXPROCS ;;
    boehm) bin="$BUILD/bench/boehm_$b"; knob=GC_MARKERS; unset=("${BOEHM_UNSET[@]}") ;;
  esac
  local venv=()
  if is_variant "$p"; then read -r -a venv <<<"${VARIANTS[$p]//@LOG@/$LOGDIR}"; fi
  if [ -n "${PROG_ENV[$p]+set}" ]; then read -r -a venv <<<"${PROG_ENV[$p]}"; fi
  read -r -a args <<<"$size"
  local gobench=0
  if is_gobench "$impl" "$b"; then
    gobench=1
    args=(-test.bench=. "-test.benchtime=${args[0]}x" -test.count=1)
    [ "$impl" = go ] && args=("-test.run=^$" "${args[@]}")
  fi
  if [ "$b" = echo ]; then # the load client starts the server
    args=("$bin" "${args[@]}")
    bin="$BUILD/bench/echo_load"
  fi
  # Variant runs (workload 15) also measure the process's CPU time (GNU
  # time, user + system): on a loaded host wall time mostly says how much
  # CPU the run was given, CPU time what the tracer made it do.
  local timer=() tfile="$LOGDIR/time-$impl-$p.txt"
  if is_variant "$p" && [ -x /usr/bin/time ]; then
    timer=(/usr/bin/time -f '%U %S' -o "$tfile")
  fi
  out=$("${timer[@]}" env -u GODEBUG -u GOGC -u DEBUG -u GOMAXPROCS -u MAXPROCS "${unset[@]}" \
        "$knob=$procs" "${venv[@]}" timeout "$TIMEOUT" "$bin" "${args[@]}" 2>"$log")
  rc=$?
  if [ $gobench = 1 ]; then
    # The Go-style output (and a failed benchmark's "--- FAIL" block) is
    # on stdout: keep it in the log, and make the result line from it.
    printf '%s\n' "$out" >>"$log"
    LINE=""
    [ $rc -eq 0 ] && LINE=$(printf '%s\n' "$out" | bench_to_result "$b" "$impl")
  else
    LINE=$(printf '%s\n' "$out" | grep -m1 '^result ')
  fi
  if [ ${#timer[@]} -gt 0 ] && [ -n "$LINE" ] && [ -s "$tfile" ]; then
    LINE="$LINE cpu_s=$(awk 'END { printf "%.2f", $1 + $2 }' "$tfile")"
  fi
  if [ $rc -ne 0 ] || [ -z "$LINE" ]; then
    local why="exit $rc"
    [ $rc -eq 124 ] && why="timeout ${TIMEOUT}s"
    FAILS[$impl.$p]="$why: $(grep -m1 -A1 -E 'FAIL|fatal' "$log" | tr '\n' ' ' | cut -c1-160)"
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

# Each round starts one program further along (round 2 runs the second
# program first, ...): when the host's load drifts during a round, the
# same program is not always the one run last.  Workload 15's variants
# are programs of their own, so their order rotates too.  The three
# implementations of a program rotate as well (go grt boehm, then grt
# boehm go, ...): a run that follows a large process's exit can be slowed
# by the kernel's clean-up (perf sched showed kdamond holding a CPU for
# 4 ms in workload 12's second runs, whose longest stall came out 7 ms
# against 4-5), so no implementation is always the one that follows.
IMPLS=(go grt boehm)
NPROGS=${#PROGS[@]}
for ((round = 1; round <= ROUNDS; round++)); do
  for ((k = 0; k < NPROGS; k++)); do
    p=${PROGS[$(((k + round - 1) % NPROGS))]}
    r=$(prog_row "$p")
    procs=$(field "$r" 4)
    if [ "$QUICK" = 1 ]; then size=$(field "$r" 6); else size=$(field "$r" 5); fi
    for ((j = 0; j < 3; j++)); do
      impl=${IMPLS[$(((j + round - 1) % 3))]}
      case $impl in
        go) ok=${GO_OK[$p]} ;; grt) ok=${C_OK[$p]} ;; boehm) ok=${BOEHM_OK[$p]} ;;
      esac
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
  if [ "$HAVE_BOEHM" = 1 ]; then echo "# grt vs Go (and Boehm GC) benchmarks"; else echo "# grt vs Go benchmarks"; fi
  echo
  echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC'); commit $(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo '?')$(git -C "$REPO" diff --quiet 2>/dev/null || echo ' (dirty)')"
  echo "- machine: $(nproc) CPUs, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n1); $(uname -sr)"
  echo "- load average (1, 5, 15 min) before the runs: ${LOAD_BEFORE:-?}; after: $(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null)"
  echo "- $(go version | sed 's/^go version //'); grt build: $BUILD_TYPE ($BUILD)"
  if [ "$QUICK" = 1 ]; then
    echo "- **quick mode**: small sizes, $ROUNDS round(s) -- a smoke test; the figures are not comparable with the anchors"
  else
    if [ "$HAVE_BOEHM" = 1 ]; then
      echo "- medians of $ROUNDS rounds, Go, grt and Boehm run alternately"
    else
      echo "- medians of $ROUNDS rounds, Go and grt run alternately"
    fi
  fi
  if [ "$HAVE_BOEHM" = 1 ]; then
    echo "- Boehm: $(pkg-config --modversion bdw-gc 2>/dev/null || echo '?'), GC_MARKERS=P, otherwise defaults (tests/bench/boehm/boehm_bench.h)"
    echo
    echo "| # | workload | P | unit | Go anchor | Boehm anchor | Go | Boehm | grt | grt/Go | grt/Boehm | target | met |"
    echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|"
  else
    echo
    echo "| # | workload | P | unit | Go anchor | Go | grt | grt/Go | target | met |"
    echo "|---|---|---|---|---|---|---|---|---|---|"
  fi
} >"$TABLE"

STATUS=0
for r in "${SEL_ROWS[@]}"; do
  num=$(field "$r" 1); row=$(field "$r" 2); p=$(field "$r" 3)
  procs=$(field "$r" 4); key=$(field "$r" 7); anchor=$(field "$r" 8)
  target=$(field "$r" 9); banchor=$(field "$r" 10)
  unit=""
  case $key in *:*) unit=${key#*:}; key=${key%%:*} ;; esac
  if [ -z "$unit" ]; then
    unit=$(first_of "$VALDIR/grt.$p.unit"); [ -n "$unit" ] || unit=$(first_of "$VALDIR/go.$p.unit")
    [ -n "$unit" ] || unit=$(first_of "$VALDIR/boehm.$p.unit")
  fi
  gom=$(median "$VALDIR/go.$p.$key")
  grtm=$(median "$VALDIR/grt.$p.$key")
  bm=$(median "$VALDIR/boehm.$p.$key")

  # The ratios are judged unrounded (0.504 misses 0.5) and shown rounded.
  ratio_of() { # ratio_of <grt> <base>: grt/base unrounded, or empty
    [ -n "$1" ] && [ -n "$2" ] || return 0
    awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.6f", a / b }'
  }
  shown() { [ -n "$1" ] && awk -v x="$1" 'BEGIN { printf "%.2fx", x }'; }
  rawratio=$(ratio_of "$grtm" "$gom")
  rawbratio=$(ratio_of "$grtm" "$bm")
  limit=""; cmp=""; have=""
  case $target in
    -) tshow="-" ;;
    *)
      # kind (ratio, boehm, abs), comparison (<=, >=, <, >), limit
      kind=${target%%[<>]*}; rest=${target#"$kind"}
      case $rest in '<='*|'>='*) cmp=${rest:0:2} ;; '<'*|'>'*) cmp=${rest:0:1} ;; *) cmp="" ;; esac
      limit=${rest#"$cmp"}
      case $cmp in '<=') cshow='≤' ;; '>=') cshow='≥' ;; *) cshow=$cmp ;; esac
      case $kind in
        ratio) tshow="$cshow ${limit}x Go"; have=$rawratio ;;
        boehm) tshow="$cshow ${limit}x Boehm"; have=$rawbratio ;;
        abs)   tshow="$cshow $limit"; have=$grtm ;;
        *)
          if is_variant "$kind"; then # workload 15: against another way to run
            tshow="$cshow ${limit}x $kind"
            have=$(ratio_of "$grtm" "$(median "$VALDIR/grt.$kind.$key")")
            rawratio=$have
          else
            cmp=""
          fi ;;
      esac
      if [ -z "$cmp" ] || [ -z "$limit" ]; then
        echo "run.sh: bad target '$target' of $row" >&2; exit 2
      fi ;;
  esac
  if [ "$target" = - ]; then
    met="-"
  elif [ -n "$have" ]; then
    met=$(awk -v h="$have" -v l="$limit" -v c="$cmp" 'BEGIN {
      if (c == "<=") ok = h <= l; else if (c == ">=") ok = h >= l;
      else if (c == "<") ok = h < l; else ok = h > l;
      print ok ? "yes" : "**no**" }')
  else
    met="n/a"
  fi

  cell() { # cell <impl> <median>: the median, or why there is none
    if [ -n "$2" ]; then echo "$2"; return; fi
    if [ "$1" != grt ] && is_variant "$p"; then echo "-"; return; fi
    local ok
    case $1 in
      go) ok=${GO_OK[$p]} ;; grt) ok=${C_OK[$p]} ;;
      boehm) [ "${HAS_BOEHM[$p]}" = 1 ] || return 0; ok=${BOEHM_OK[$p]} ;;
    esac
    if [ "$ok" != 1 ]; then echo "build failed"; return; fi
    if [ -n "${FAILS[$1.$p]:-}" ]; then echo "FAILED (${FAILS[$1.$p]%%:*})"; return; fi
    echo "-"
  }
  gocell=$(cell go "$gom"); grtcell=$(cell grt "$grtm"); bcell=$(cell boehm "$bm")
  if [ -z "$grtm" ] || { [ -z "$gom" ] && ! is_variant "$p"; }; then STATUS=1; fi
  if [ "${HAS_BOEHM[$p]}" = 1 ] && [ -z "$bm" ]; then STATUS=1; fi
  if [ "$HAVE_BOEHM" = 1 ]; then
    echo "| $num | $row | $procs | ${unit:-} | $anchor | $banchor | $gocell | $bcell | $grtcell | $(shown "$rawratio") | $(shown "$rawbratio") | $tshow | $met |" >>"$TABLE"
  else
    echo "| $num | $row | $procs | ${unit:-} | $anchor | $gocell | $grtcell | $(shown "$rawratio") | $tshow | $met |" >>"$TABLE"
  fi
done

# Workload 15's rows put their ratio to the untraced run in the grt/Go
# column: say so under the table.
for r in "${SEL_ROWS[@]}"; do
  t=$(field "$r" 9); t=${t%%[<>]*}
  if is_variant "$t"; then
    { echo; echo "Workload 15: the grt/Go column holds the ratio to the row's base run (its target names it), grt against grt."; } >>"$TABLE"
    break
  fi
done

# The other keys of each program's result line (sizes, per-run figures,
# parked's mapping count against vm.max_map_count...): medians, or the
# first value when not numeric.
{
  echo
  echo "Other figures (medians):"
  echo
  for p in "${PROGS[@]}"; do
    for impl in go grt boehm; do
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
