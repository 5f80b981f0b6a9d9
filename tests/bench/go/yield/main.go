// Workload 1 (yield): two goroutines x N runtime.Gosched at GOMAXPROCS=1;
// nanoseconds per yield.  Same shape as tests/bench/bench_yield.c: main is
// one of the two yielders, and keeps yielding (counted) until the other is
// done; at P=1 the other records main's progress when it finishes, which
// must be at least N/2 (the yields really switched).
package main

import (
	"fmt"
	"runtime"
	"sync/atomic"
	"time"

	"grtbench/internal/bench"
)

var (
	iters        int64
	mainProgress int64 // atomic.Load/Store (a progress sample)
	seenAtDone   int64 // written before otherDone is set
	otherDone    int32 // atomic
)

func yielder() {
	for i := int64(0); i < iters; i++ {
		runtime.Gosched()
	}
	seenAtDone = atomic.LoadInt64(&mainProgress)
	atomic.StoreInt32(&otherDone, 1)
}

func main() {
	iters = bench.Size(10_000_000)
	t0 := time.Now()
	go yielder()
	for i := int64(0); i < iters; i++ {
		runtime.Gosched()
		// A plain store (C uses a relaxed atomic store, also a plain mov);
		// Go's atomic.StoreInt64 is an XCHG and would tax this loop only.
		mainProgress = i + 1
	}
	extra := int64(0)
	for atomic.LoadInt32(&otherDone) == 0 {
		runtime.Gosched()
		extra++
	}
	elapsed := time.Since(t0)

	if runtime.GOMAXPROCS(0) == 1 && seenAtDone < iters/2 {
		bench.Fail("yield did not switch: the other goroutine finished %d yields while main had done %d",
			iters, seenAtDone)
	}
	yields := 2*iters + extra
	bench.Result("yield", "ns/op", float64(elapsed.Nanoseconds())/float64(yields),
		fmt.Sprintf("n=%d yields=%d", iters, yields))
}
