// Workload 5 (parked): RSS per goroutine blocked on one channel,
// (VmRSS parked - VmRSS before) / N, GOMAXPROCS=2.  Same shape and checks
// as tests/bench/bench_parked.c, which explains them.
package main

import (
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"grtbench/internal/bench"
)

var (
	gate       = make(chan struct{})
	exited     sync.WaitGroup
	arrived    int64 // atomic
	wokeClosed int64 // atomic
)

func parker() {
	atomic.AddInt64(&arrived, 1)
	if _, ok := <-gate; !ok {
		atomic.AddInt64(&wokeClosed, 1)
	}
	exited.Done()
}

func main() {
	n := bench.Size(1_000_000)
	maxMaps := bench.MaxMapCount()

	rss0 := bench.RSS()
	if rss0 <= 0 {
		bench.Fail("cannot read VmRSS from /proc/self/status")
	}
	t0 := time.Now()
	exited.Add(int(n))
	for i := int64(0); i < n; i++ {
		go parker()
	}
	for atomic.LoadInt64(&arrived) < n {
		runtime.Gosched()
	}
	tParked := time.Since(t0)
	time.Sleep(20 * time.Millisecond)

	rss1 := bench.RSS()
	maps := bench.MapCount()
	if ng := runtime.NumGoroutine(); int64(ng) < n+1 {
		bench.Fail("runtime.NumGoroutine() = %d with %d parked", ng, n)
	}
	if maxMaps > 0 && maps >= maxMaps {
		bench.Fail("hit vm.max_map_count: %d mappings of %d", maps, maxMaps)
	}

	close(gate)
	exited.Wait()
	if c := atomic.LoadInt64(&wokeClosed); c != n {
		bench.Fail("%d of %d goroutines saw the close", c, n)
	}
	bench.Result("parked", "B/g", float64(rss1-rss0)/float64(n),
		fmt.Sprintf("n=%d rss_before=%d rss_parked=%d spawn_park_ns=%.1f maps=%d max_map_count=%d hit_max_map_count=no",
			n, rss0, rss1, float64(tParked.Nanoseconds())/float64(n), maps, maxMaps))
}
