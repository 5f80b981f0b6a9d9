// Workload 11 (GCBench): the Ellis/Kovac/Boehm collector benchmark, the
// same program as tests/bench/bench_gcbench.c (see there for the steps and
// checks).  Long-lived depth L (default 16), stretch depth L+2, a
// 500,000-double array kept live, top-down and bottom-up trees of depths
// 4, 6, ..., L; one goroutine, GOMAXPROCS=2.  The whole run in ms.
package main

import (
	"fmt"
	"os"
	"runtime"
	"time"

	"grtbench/internal/bench"
)

const (
	minDepth  = 4
	arraySize = 500000
)

type node struct {
	left, right *node
	i, j        int32
}

var stretchDepth int

func treeSize(d int) int64 { return int64(1)<<(d+1) - 1 }

func numIters(d int) int64 { return 2 * treeSize(stretchDepth) / treeSize(d) }

// populate: top-down, n gets two fresh children, each populated.
func populate(depth int, n *node) {
	if depth <= 0 {
		return
	}
	depth--
	n.left = &node{}
	n.right = &node{}
	populate(depth, n.left)
	populate(depth, n.right)
}

// makeTree: bottom-up, both subtrees before their parent.
func makeTree(depth int) *node {
	if depth <= 0 {
		return &node{}
	}
	l := makeTree(depth - 1)
	r := makeTree(depth - 1)
	return &node{left: l, right: r}
}

func count(n *node) int64 {
	if n == nil {
		return 0
	}
	return 1 + count(n.left) + count(n.right)
}

func timeConstruction(depth int) {
	iters := numIters(depth)
	t0 := time.Now()
	var t *node
	for i := int64(0); i < iters; i++ {
		t = &node{}
		populate(depth, t)
	}
	if c := count(t); c != treeSize(depth) {
		bench.Fail("top-down tree of depth %d: %d nodes, want %d", depth, c, treeSize(depth))
	}
	t1 := time.Now()
	for i := int64(0); i < iters; i++ {
		t = makeTree(depth)
	}
	if c := count(t); c != treeSize(depth) {
		bench.Fail("bottom-up tree of depth %d: %d nodes, want %d", depth, c, treeSize(depth))
	}
	t2 := time.Now()
	fmt.Fprintf(os.Stderr, "depth %d: %d trees, top-down %.1f ms, bottom-up %.1f ms\n",
		depth, iters, float64(t1.Sub(t0).Nanoseconds())/1e6, float64(t2.Sub(t1).Nanoseconds())/1e6)
}

func main() {
	longLivedDepth := int(bench.Size(16))
	if longLivedDepth < minDepth || longLivedDepth > 24 {
		bench.Fail("long-lived depth %d out of range 4..24", longLivedDepth)
	}
	stretchDepth = longLivedDepth + 2

	t0 := time.Now()

	// 1. Stretch the heap.
	tmp := makeTree(stretchDepth)
	if c := count(tmp); c != treeSize(stretchDepth) {
		bench.Fail("stretch tree: %d nodes", c)
	}
	tmp = nil

	// 2. The long-lived tree.
	longLived := &node{}
	populate(longLivedDepth, longLived)

	// 3. The long-lived array, half filled.
	array := make([]float64, arraySize)
	for i := 0; i < arraySize/2; i++ {
		array[i] = 1.0 / float64(i)
	}

	// 4. Short-lived trees.
	for d := minDepth; d <= longLivedDepth; d += 2 {
		timeConstruction(d)
	}

	// 5. The long-lived data is still there.
	if longLived == nil || array[1000] != 1.0/1000 {
		bench.Fail("long-lived data lost")
	}
	elapsed := time.Since(t0)

	if n := count(longLived); n != treeSize(longLivedDepth) {
		bench.Fail("long-lived tree: %d nodes, want %d", n, treeSize(longLivedDepth))
	}
	for i := 0; i < arraySize; i++ {
		want := 0.0
		if i < arraySize/2 {
			want = 1.0 / float64(i)
		}
		if array[i] != want {
			bench.Fail("array[%d] = %g", i, array[i])
		}
	}

	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	maxPause := uint64(0)
	for _, p := range ms.PauseNs {
		if p > maxPause {
			maxPause = p
		}
	}
	bench.Result("gcbench", "ms", float64(elapsed.Nanoseconds())/1e6,
		fmt.Sprintf("depth=%d rss_mb=%.1f maxpause_us=%.1f num_gc=%d", longLivedDepth,
			float64(bench.StatusBytes("VmHWM"))/1e6, float64(maxPause)/1e3, ms.NumGC))
}
