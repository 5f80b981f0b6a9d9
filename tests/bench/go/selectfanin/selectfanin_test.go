// Workload 18 (grt's own): a fan-in by select.  Eight producers each send
// their share of the ints 0..b.N-1 through their own channel of capacity
// 16 and close it; the benchmark receives with one select over the eight
// channels, setting a closed one to nil, until all are closed.
// Nanoseconds per element.  The same Go-style benchmark and checks as
// tests/bench/bench_selectfanin.c (eight cases written out: Go's select
// statement, as a Go programmer writes it).
package selectfanin

import "testing"

const producers = 8

func producer(c chan<- int64, first, count int64) {
	for i := int64(0); i < count; i++ {
		c <- first + i*producers
	}
	close(c)
}

func BenchmarkSelectFanin(b *testing.B) {
	n := int64(b.N)
	var cs [producers]chan int64
	var last [producers]int64
	for k := range cs {
		cs[k] = make(chan int64, 16)
		count := n / producers
		if int64(k) < n%producers {
			count++
		}
		last[k] = int64(k) - producers
		go producer(cs[k], int64(k), count)
	}
	c0, c1, c2, c3, c4, c5, c6, c7 := cs[0], cs[1], cs[2], cs[3], cs[4], cs[5], cs[6], cs[7]
	got, sum := int64(0), int64(0)
	take := func(k int, v int64) {
		if v != last[k]+producers {
			b.Fatalf("producer %d sent %d after %d", k, v, last[k])
		}
		last[k] = v
		sum += v
		got++
	}
	for open := producers; open > 0; {
		select {
		case v, ok := <-c0:
			if !ok {
				c0 = nil
				open--
				continue
			}
			take(0, v)
		case v, ok := <-c1:
			if !ok {
				c1 = nil
				open--
				continue
			}
			take(1, v)
		case v, ok := <-c2:
			if !ok {
				c2 = nil
				open--
				continue
			}
			take(2, v)
		case v, ok := <-c3:
			if !ok {
				c3 = nil
				open--
				continue
			}
			take(3, v)
		case v, ok := <-c4:
			if !ok {
				c4 = nil
				open--
				continue
			}
			take(4, v)
		case v, ok := <-c5:
			if !ok {
				c5 = nil
				open--
				continue
			}
			take(5, v)
		case v, ok := <-c6:
			if !ok {
				c6 = nil
				open--
				continue
			}
			take(6, v)
		case v, ok := <-c7:
			if !ok {
				c7 = nil
				open--
				continue
			}
			take(7, v)
		}
	}
	b.StopTimer()

	if got != n || sum != n*(n-1)/2 {
		b.Fatalf("received %d elements summing to %d, want %d summing to %d",
			got, sum, n, n*(n-1)/2)
	}
}
