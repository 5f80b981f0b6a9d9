// Workload 7 (thread-ring): 503 goroutines in a ring of unbuffered
// channels pass a token N times, GOMAXPROCS=2; the goroutine that receives
// 0 must be N mod 503 + 1.  Nanoseconds per hop.  Same shape as
// tests/bench/bench_threadring.c.
package main

import (
	"fmt"
	"time"

	"grtbench/internal/bench"
)

const ring = 503

func ringer(id int64, in <-chan int64, out chan<- int64, done chan<- int64) {
	for {
		token := <-in
		if token == 0 {
			done <- id
			return
		}
		out <- token - 1
	}
}

func main() {
	n := bench.Size(10_000_000)

	t0 := time.Now()
	done := make(chan int64)
	chans := make([]chan int64, ring)
	for i := range chans {
		chans[i] = make(chan int64)
	}
	for i := 0; i < ring; i++ {
		go ringer(int64(i+1), chans[i], chans[(i+1)%ring], done)
	}
	chans[0] <- n
	winner := <-done
	elapsed := time.Since(t0)

	if winner != n%ring+1 {
		bench.Fail("goroutine %d got the last token, want %d", winner, n%ring+1)
	}
	bench.Result("threadring", "ns/op", float64(elapsed.Nanoseconds())/float64(n),
		fmt.Sprintf("n=%d winner=%d", n, winner))
}
