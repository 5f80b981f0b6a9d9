// Workload 3 (buffered): N int64s through a cap-128 channel, one producer,
// main consuming, GOMAXPROCS=2; nanoseconds per element.  Same shape and
// checks as tests/bench/bench_buffered.c.
package main

import (
	"fmt"
	"time"

	"grtbench/internal/bench"
)

func producer(c chan<- int64, n int64) {
	for i := int64(0); i < n; i++ {
		c <- i
	}
	close(c)
}

func main() {
	n := bench.Size(10_000_000)
	c := make(chan int64, 128)

	t0 := time.Now()
	go producer(c, n)
	got, sum := int64(0), int64(0)
	for v := range c {
		if v != got {
			bench.Fail("element %d is %d (out of order)", got, v)
		}
		sum += v
		got++
	}
	elapsed := time.Since(t0)

	if got != n || sum != n*(n-1)/2 {
		bench.Fail("received %d elements summing to %d, want %d summing to %d",
			got, sum, n, n*(n-1)/2)
	}
	bench.Result("buffered", "ns/op", float64(elapsed.Nanoseconds())/float64(n),
		fmt.Sprintf("n=%d", n))
}
