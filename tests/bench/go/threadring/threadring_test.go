// Workload 7 (thread-ring): 503 goroutines in a ring of unbuffered
// channels passing a token b.N times, GOMAXPROCS=2; nanoseconds per hop,
// the ring's set-up included.  The same Go-style benchmark and check as
// tests/bench/bench_threadring.c: the goroutine that receives 0 must be
// number b.N mod 503 + 1; then the ring's channels are closed so that its
// goroutines end before the next run.
package threadring

import "testing"

const ring = 503

func ringer(id int64, in <-chan int64, out chan<- int64, done chan<- int64) {
	for {
		token, ok := <-in
		if !ok {
			return // the run is over
		}
		if token == 0 {
			done <- id
			return
		}
		out <- token - 1
	}
}

func BenchmarkThreadRing(b *testing.B) {
	n := int64(b.N)

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
	b.StopTimer()

	for _, c := range chans {
		close(c)
	}
	if winner != n%ring+1 {
		b.Fatalf("goroutine %d got the last token, want %d", winner, n%ring+1)
	}
}
