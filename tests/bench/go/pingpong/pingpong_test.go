// Workload 2 (pingpong): b.N round trips over two unbuffered channels at
// GOMAXPROCS=1; nanoseconds per round trip.  The same Go-style benchmark
// and checks as tests/bench/bench_pingpong.c.
package pingpong

import (
	"testing"
	"time"
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

func BenchmarkPingPong(b *testing.B) {
	pingPong(b)
}

// With a timer pending, as bench_pingpong.c's PingPongTimer.
func BenchmarkPingPongTimer(b *testing.B) {
	t := time.NewTimer(time.Hour)
	b.ResetTimer()
	pingPong(b)
	if !t.Stop() {
		b.Fatalf("the hour-long timer was not pending at the end")
	}
}

func pingPong(b *testing.B) {
	n := int64(b.N)
	ping := make(chan int64)
	pong := make(chan int64)

	go ponger(ping, pong)
	for i := int64(0); i < n; i++ {
		ping <- i
		v, ok := <-pong
		if !ok || v != i+1 {
			b.Fatalf("round trip %d: got %d", i, v)
		}
	}
	b.StopTimer()

	close(ping)
	if seen, ok := <-pong; !ok || seen != n {
		b.Fatalf("ponger saw %d values, want %d", seen, n)
	}
	if _, ok := <-pong; ok {
		b.Fatalf("pong not closed after the count")
	}
}
