// Workload 10 (binary-trees): the benchmarks-game program at depth N
// (default 21) with one goroutine doing all the work, GOMAXPROCS=2.  Same
// shape as tests/bench/bench_binarytrees.c: stretch tree of depth N+1,
// long-lived tree of depth N, 2^(N-d+4) trees of depth d = 4, 6, ..., N
// built bottom-up and checked; the check lines go to stderr and must match
// the node counts (and, at 21, the published expected output).
//
// Figures: seconds; rss_mb = VmHWM at the end (10^6 bytes); maxpause_us =
// the longest of MemStats.PauseNs (the last 256 cycles).
package main

import (
	"fmt"
	"os"
	"runtime"
	"time"

	"grtbench/internal/bench"
)

const minDepth = 4

type node struct{ left, right *node }

func bottomUp(depth int) *node {
	if depth <= 0 {
		return &node{}
	}
	l := bottomUp(depth - 1)
	r := bottomUp(depth - 1)
	return &node{l, r}
}

func (n *node) check() int64 {
	if n.left == nil {
		return 1
	}
	return 1 + n.left.check() + n.right.check()
}

var want21 = []int64{8388607, 65011712, 66584576, 66977792, 67076096,
	67100672, 67106816, 67108352, 67108736, 67108832, 4194303}

var (
	nlines   int
	checksum int64
)

func lineCheck(maxDepth int, got, want int64) {
	if got != want {
		bench.Fail("check line %d: %d, want %d", nlines+1, got, want)
	}
	if maxDepth == 21 && got != want21[nlines] {
		bench.Fail("check line %d: %d, the expected output says %d", nlines+1, got, want21[nlines])
	}
	nlines++
	checksum += got
}

func main() {
	maxDepth := int(bench.Size(21))
	if maxDepth < minDepth+2 {
		maxDepth = minDepth + 2
	}
	if maxDepth > 30 {
		bench.Fail("depth %d too large", maxDepth)
	}

	t0 := time.Now()

	stretch := maxDepth + 1
	c := bottomUp(stretch).check()
	fmt.Fprintf(os.Stderr, "stretch tree of depth %d\t check: %d\n", stretch, c)
	lineCheck(maxDepth, c, int64(1)<<(stretch+1)-1)

	longLived := bottomUp(maxDepth)

	for d := minDepth; d <= maxDepth; d += 2 {
		iters := int64(1) << (maxDepth - d + minDepth)
		sum := int64(0)
		for i := int64(0); i < iters; i++ {
			sum += bottomUp(d).check()
		}
		fmt.Fprintf(os.Stderr, "%d\t trees of depth %d\t check: %d\n", iters, d, sum)
		lineCheck(maxDepth, sum, iters*(int64(1)<<(d+1)-1))
	}

	c = longLived.check()
	fmt.Fprintf(os.Stderr, "long lived tree of depth %d\t check: %d\n", maxDepth, c)
	lineCheck(maxDepth, c, int64(1)<<(maxDepth+1)-1)

	elapsed := time.Since(t0)
	if maxDepth == 21 && nlines != len(want21) {
		bench.Fail("%d check lines, want %d", nlines, len(want21))
	}

	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	maxPause := uint64(0)
	for _, p := range ms.PauseNs {
		if p > maxPause {
			maxPause = p
		}
	}
	rss := bench.StatusBytes("VmHWM")
	bench.Result("binarytrees", "s", elapsed.Seconds(),
		fmt.Sprintf("depth=%d rss_mb=%.1f maxpause_us=%.1f num_gc=%d checksum=%d",
			maxDepth, float64(rss)/1e6, float64(maxPause)/1e3, ms.NumGC, checksum))
}
