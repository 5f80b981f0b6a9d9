// Workload 8 (chameneos-redux): benchmarks-game rules, N meetings with 3
// then 10 creatures, GOMAXPROCS=2; nanoseconds per meeting over both runs
// (c3= and c10= per run).  The meeting place is a goroutine fed by one
// unbuffered channel of requests, exactly as in
// tests/bench/bench_chameneos.c, which explains the design and the checks.
package main

import (
	"fmt"
	"time"

	"grtbench/internal/bench"
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

func game(colours []int, n int64) time.Duration {
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
			bench.Fail("creature %d met itself %d times", idx, cs[idx].metSelf)
		}
	}
	elapsed := time.Since(t0)
	if total != 2*n {
		bench.Fail("%d creatures: %d meetings counted, want %d", len(colours), total, 2*n)
	}
	return elapsed
}

func main() {
	n := bench.Size(6_000_000)

	table := [3][3]int{
		blue:   {blue: blue, red: yellow, yellow: red},
		red:    {blue: yellow, red: red, yellow: blue},
		yellow: {blue: red, red: blue, yellow: yellow},
	}
	for a := 0; a < 3; a++ {
		for b := 0; b < 3; b++ {
			if complement(a, b) != table[a][b] {
				bench.Fail("complement(%d, %d) wrong", a, b)
			}
		}
	}

	e3 := game([]int{blue, red, yellow}, n)
	e10 := game([]int{blue, red, yellow, red, yellow, blue, red, yellow, red, blue}, n)
	bench.Result("chameneos", "ns/op", float64((e3+e10).Nanoseconds())/float64(2*n),
		fmt.Sprintf("n=%d c3=%.1f c10=%.1f", n,
			float64(e3.Nanoseconds())/float64(n), float64(e10.Nanoseconds())/float64(n)))
}
