// Workload 2 (ping-pong): N round trips between two goroutines over two
// unbuffered channels, GOMAXPROCS=1; nanoseconds per round trip.  Same
// shape and checks as tests/bench/bench_pingpong.c.
package main

import (
	"fmt"
	"time"

	"grtbench/internal/bench"
)

func ponger(ping <-chan int64, pong chan<- int64) {
	seen := int64(0)
	for v := range ping {
		seen++
		pong <- v + 1
	}
	pong <- seen
	close(pong)
}

func main() {
	n := bench.Size(5_000_000)
	ping := make(chan int64)
	pong := make(chan int64)

	t0 := time.Now()
	go ponger(ping, pong)
	for i := int64(0); i < n; i++ {
		ping <- i
		v, ok := <-pong
		if !ok || v != i+1 {
			bench.Fail("round trip %d: got %d", i, v)
		}
	}
	elapsed := time.Since(t0)

	close(ping)
	if seen, ok := <-pong; !ok || seen != n {
		bench.Fail("ponger saw %d values, want %d", seen, n)
	}
	if _, ok := <-pong; ok {
		bench.Fail("pong not closed after the count")
	}
	bench.Result("pingpong", "ns/op", float64(elapsed.Nanoseconds())/float64(n),
		fmt.Sprintf("n=%d", n))
}
