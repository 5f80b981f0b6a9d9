// Workload 1 (yield): two goroutines calling runtime.Gosched at
// GOMAXPROCS=1; nanoseconds per yield.  The same Go-style benchmark as
// tests/bench/bench_yield.c: one operation is one yield of either
// goroutine, b.N split between them; the benchmark's goroutine is one of
// the two yielders and keeps yielding (uncounted) until the other is done;
// at P=1 the other records the benchmark's progress when it finishes,
// which must be at least half its share (the yields really switched).
package yield

import (
	"runtime"
	"sync/atomic"
	"testing"
)

var (
	otherIters   int64
	mainProgress int64 // atomic.Load by the other goroutine (a progress sample)
	seenAtDone   int64 // written before otherDone is set
	otherDone    int32 // atomic
)

func yielder() {
	n := otherIters
	for i := int64(0); i < n; i++ {
		runtime.Gosched()
	}
	seenAtDone = atomic.LoadInt64(&mainProgress)
	atomic.StoreInt32(&otherDone, 1)
}

func BenchmarkYield(b *testing.B) {
	n := int64(b.N)
	mine := n - n/2
	otherIters = n / 2
	atomic.StoreInt64(&mainProgress, 0)
	atomic.StoreInt32(&otherDone, 0)

	go yielder()
	for i := int64(0); i < mine; i++ {
		runtime.Gosched()
		// A plain store (C uses a relaxed atomic store, also a plain mov);
		// Go's atomic.StoreInt64 is an XCHG and would tax this loop only.
		mainProgress = i + 1
	}
	for atomic.LoadInt32(&otherDone) == 0 {
		runtime.Gosched()
	}
	b.StopTimer()

	if runtime.GOMAXPROCS(0) == 1 && seenAtDone < mine/2 {
		b.Fatalf("yield did not switch: the other goroutine finished %d yields while this one had done %d",
			otherIters, seenAtDone)
	}
}
