// Workload 6 (skynet): a 10-ary tree of goroutines with N leaves, an
// unbuffered channel per inner node, GOMAXPROCS=2; the root's sum must be
// N(N-1)/2.  Milliseconds for the whole run.  Same shape as
// tests/bench/bench_skynet.c.
package main

import (
	"fmt"
	"time"

	"grtbench/internal/bench"
)

const fanout = 10

func skynet(out chan<- int64, num, size int64) {
	if size == 1 {
		out <- num
		return
	}
	rc := make(chan int64)
	sub := size / fanout
	for i := int64(0); i < fanout; i++ {
		go skynet(rc, num+i*sub, sub)
	}
	sum := int64(0)
	for i := 0; i < fanout; i++ {
		sum += <-rc
	}
	out <- sum
}

func main() {
	n := bench.Size(1_000_000)
	for p := n; p > 1; p /= fanout {
		if p%fanout != 0 {
			bench.Fail("size %d is not a power of %d", n, fanout)
		}
	}

	t0 := time.Now()
	root := make(chan int64)
	go skynet(root, 0, n)
	sum := <-root
	elapsed := time.Since(t0)

	if want := n * (n - 1) / 2; sum != want {
		bench.Fail("sum %d, want %d", sum, want)
	}
	bench.Result("skynet", "ms", float64(elapsed.Nanoseconds())/1e6,
		fmt.Sprintf("n=%d sum=%d", n, sum))
}
