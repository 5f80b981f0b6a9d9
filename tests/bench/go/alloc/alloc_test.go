// Workload 13 (alloc): b.N 16-byte objects (two pointers), each stored to
// a global and dropped, one goroutine, GOMAXPROCS=2; nanoseconds per
// allocation.  The same Go-style benchmark, checks and metrics (num_gc,
// maxpause_us, rss_mb; B/op and allocs/op) as tests/bench/bench_alloc.c:
// every fresh object must be zeroed, and the loop must run b.N times.
package alloc

import (
	"runtime"
	"testing"
	"unsafe"

	"grtbench/internal/bench"
)

type pair struct{ a, b *pair }

var sink *pair

// one is a non-nil pointer that is not a heap object (the C version
// stores the address of a static; the same here).
var oneObj pair
var one = &oneObj

func BenchmarkAlloc(b *testing.B) {
	if unsafe.Sizeof(pair{}) != 16 {
		b.Fatalf("pair is %d bytes", unsafe.Sizeof(pair{}))
	}
	n := int64(b.N)
	b.ReportAllocs()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	gc0 := ms.NumGC
	dirty, sum := int64(0), int64(0)
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
	b.StopTimer()
	sink = nil

	if dirty != 0 {
		b.Fatalf("%d of %d fresh objects were not zeroed", dirty, n)
	}
	if sum != n {
		b.Fatalf("%d iterations, want %d", sum, n)
	}

	runtime.ReadMemStats(&ms)
	maxPause := bench.MaxPauseSince(&ms, gc0)
	b.ReportMetric(float64(ms.NumGC-gc0), "num_gc")
	b.ReportMetric(float64(maxPause)/1e3, "maxpause_us")
	b.ReportMetric(float64(bench.StatusBytes("VmHWM"))/1e6, "rss_mb")
}
