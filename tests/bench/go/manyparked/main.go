// Workload 17 (grt's own): a small heap beside many parked goroutines --
// the Go twin of bench_manyparked.c, which says what it measures.
package main

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"sync"
	"time"

	"grtbench/internal/bench"
)

type node struct {
	next *node
	v    int64
}

var (
	gate           = make(chan struct{})
	parked, exited sync.WaitGroup
	bad            int64
	badMu          sync.Mutex
	keep           [1024]*node
)

func parker(i int64) {
	mine := &node{v: i}
	parked.Done()
	<-gate
	if mine.v != i {
		badMu.Lock()
		bad++
		badMu.Unlock()
	}
	exited.Done()
}

func arg(i int, def int64) int64 {
	if len(os.Args) > i {
		v, err := strconv.ParseInt(os.Args[i], 10, 64)
		if err != nil || v <= 0 {
			bench.Fail("bad argument %d %q (want a positive integer)", i, os.Args[i])
		}
		return v
	}
	return def
}

func main() {
	n := arg(1, 100000)
	allocs := arg(2, 20000000)
	parked.Add(int(n))
	exited.Add(int(n))
	for i := int64(0); i < n; i++ {
		go parker(i)
	}
	parked.Wait()

	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	gc0 := ms.NumGC
	t0 := time.Now()
	for i := int64(0); i < allocs; i++ {
		p := &node{v: i}
		keep[i&1023] = p
	}
	d := time.Since(t0)
	runtime.ReadMemStats(&ms)

	close(gate)
	exited.Wait()
	if bad != 0 {
		bench.Fail("%d parked goroutines found their object changed", bad)
	}
	bench.Result("manyparked", "ms", float64(d.Nanoseconds())/1e6,
		fmt.Sprintf("n=%d allocs=%d num_gc=%d maxpause_us=%.1f", n, allocs, ms.NumGC-gc0,
			float64(bench.MaxPauseSince(&ms, gc0))/1e3))
}
