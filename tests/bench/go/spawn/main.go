// Workload 4 (spawn+join): N goroutines that only call wg.Done,
// GOMAXPROCS=2; nanoseconds per goroutine.  Same shape as
// tests/bench/bench_spawn.c (one wg.Add(N) up front; `go done(&wg)`, a
// function with an argument rather than a closure).
package main

import (
	"fmt"
	"sync"
	"time"

	"grtbench/internal/bench"
)

func done(wg *sync.WaitGroup) { wg.Done() }

func main() {
	n := bench.Size(1_000_000)
	var wg sync.WaitGroup

	t0 := time.Now()
	wg.Add(int(n))
	for i := int64(0); i < n; i++ {
		go done(&wg)
	}
	wg.Wait()
	elapsed := time.Since(t0)

	bench.Result("spawn", "ns/op", float64(elapsed.Nanoseconds())/float64(n),
		fmt.Sprintf("n=%d", n))
}
