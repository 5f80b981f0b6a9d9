// Workload 3 (buffered): b.N ints through a channel of capacity 128, one
// producer, one consumer, GOMAXPROCS=2; nanoseconds per element.  The
// same Go-style benchmark and checks as tests/bench/bench_buffered.c.
package buffered

import "testing"

func producer(c chan<- int64, n int64) {
	for i := int64(0); i < n; i++ {
		c <- i
	}
	close(c)
}

func BenchmarkBuffered(b *testing.B) {
	n := int64(b.N)
	c := make(chan int64, 128)

	go producer(c, n)
	got, sum := int64(0), int64(0)
	for v := range c {
		if v != got {
			b.Fatalf("element %d is %d (out of order)", got, v)
		}
		sum += v
		got++
	}
	b.StopTimer()

	if got != n || sum != n*(n-1)/2 {
		b.Fatalf("received %d elements summing to %d, want %d summing to %d",
			got, sum, n, n*(n-1)/2)
	}
}
