// Workload 8 (chameneos-redux): the benchmarks-game rules, played with 3
// and then 10 creatures, GOMAXPROCS=2; nanoseconds per meeting.  The same
// Go-style benchmark as tests/bench/bench_chameneos.c: one operation is
// one meeting of either game, b.N split between the two games; c3_ns and
// c10_ns are each game's own figure.  The meeting place is a goroutine fed
// by one unbuffered channel of requests, each with its creature's reply
// channel (one of the usual Go entries of the benchmarks game).  Checks:
// the creatures' counts add up to twice each game's meetings, no creature
// met itself, and the complement function matches the rules' table.
package chameneos

import (
	"testing"
	"time"
)

const (
	blue = iota
	red
	yellow
)

type answer struct {
	otherID     int // -1: the meeting place is closed
	otherColour int
}

type request struct {
	id     int
	colour int
	reply  chan answer
}

type creature struct {
	id       int
	colour   int
	meetings int64
	metSelf  int64
}

func complement(a, b int) int {
	if a == b {
		return a
	}
	return 3 - a - b
}

func mall(place chan request, n int64, ncreatures int) {
	for m := int64(0); m < n; m++ {
		a := <-place
		b := <-place
		a.reply <- answer{b.id, b.colour}
		b.reply <- answer{a.id, a.colour}
	}
	for i := 0; i < ncreatures; i++ {
		a := <-place
		a.reply <- answer{-1, -1}
	}
}

func live(c *creature, place chan<- request, results chan<- int) {
	reply := make(chan answer)
	for {
		place <- request{c.id, c.colour, reply}
		an := <-reply
		if an.otherID < 0 {
			break
		}
		c.meetings++
		if an.otherID == c.id {
			c.metSelf++
		}
		c.colour = complement(c.colour, an.otherColour)
	}
	results <- c.id
}

func game(b *testing.B, colours []int, n int64) time.Duration {
	cs := make([]creature, len(colours))
	place := make(chan request)
	results := make(chan int)

	t0 := time.Now()
	go mall(place, n, len(colours))
	for i, col := range colours {
		cs[i] = creature{id: i, colour: col}
		go live(&cs[i], place, results)
	}
	total := int64(0)
	for range colours {
		idx := <-results
		total += cs[idx].meetings
		if cs[idx].metSelf != 0 {
			b.Fatalf("creature %d met itself %d times", idx, cs[idx].metSelf)
		}
	}
	elapsed := time.Since(t0)
	if total != 2*n {
		b.Fatalf("%d creatures: %d meetings counted, want %d", len(colours), total, 2*n)
	}
	return elapsed
}

func BenchmarkChameneos(b *testing.B) {
	table := [3][3]int{
		blue:   {blue: blue, red: yellow, yellow: red},
		red:    {blue: yellow, red: red, yellow: blue},
		yellow: {blue: red, red: blue, yellow: yellow},
	}
	for x := 0; x < 3; x++ {
		for y := 0; y < 3; y++ {
			if complement(x, y) != table[x][y] {
				b.Fatalf("complement(%d, %d) wrong", x, y)
			}
		}
	}

	n := int64(b.N)
	n3, n10 := n-n/2, n/2
	e3 := game(b, []int{blue, red, yellow}, n3)
	e10 := game(b, []int{blue, red, yellow, red, yellow, blue, red, yellow, red, blue}, n10)
	b.StopTimer()
	if n3 > 0 {
		b.ReportMetric(float64(e3.Nanoseconds())/float64(n3), "c3_ns")
	}
	if n10 > 0 {
		b.ReportMetric(float64(e10.Nanoseconds())/float64(n10), "c10_ns")
	}
}
