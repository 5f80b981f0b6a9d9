// Workload 13 (alloc): N (default 50M) 16-byte objects (two pointers),
// each stored to a global and dropped, one goroutine, GOMAXPROCS=2;
// nanoseconds per allocation.  Same shape and checks as
// tests/bench/bench_alloc.c: every fresh object must be zeroed, and the
// loop must run N times.
package main

import (
	"fmt"
	"runtime"
	"time"
	"unsafe"

	"grtbench/internal/bench"
)

type pair struct{ a, b *pair }

var sink *pair

// one is a non-nil pointer that is not a heap object (the C version
// stores the integer 1; Go's collector would not accept that).
var oneObj pair
var one = &oneObj

func main() {
	if unsafe.Sizeof(pair{}) != 16 {
		bench.Fail("pair is %d bytes", unsafe.Sizeof(pair{}))
	}
	n := bench.Size(50_000_000)

	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	gc0 := ms.NumGC
	dirty, sum := int64(0), int64(0)
	t0 := time.Now()
	for i := int64(0); i < n; i++ {
		p := &pair{}
		if p.a != nil || p.b != nil {
			dirty++
		}
		p.b = one
		sink = p
		if p.b != nil {
			sum++
		}
	}
	elapsed := time.Since(t0)
	sink = nil

	if dirty != 0 {
		bench.Fail("%d of %d fresh objects were not zeroed", dirty, n)
	}
	if sum != n {
		bench.Fail("%d iterations, want %d", sum, n)
	}

	runtime.ReadMemStats(&ms)
	maxPause := uint64(0)
	for i := gc0 + 1; i <= ms.NumGC; i++ {
		if i+256 <= ms.NumGC {
			continue // overwritten in the ring
		}
		if p := ms.PauseNs[(i+255)%256]; p > maxPause {
			maxPause = p
		}
	}
	bench.Result("alloc", "ns", float64(elapsed.Nanoseconds())/float64(n),
		fmt.Sprintf("n=%d num_gc=%d maxpause_us=%.1f rss_mb=%.1f", n, ms.NumGC-gc0,
			float64(maxPause)/1e3, float64(bench.StatusBytes("VmHWM"))/1e6))
}
