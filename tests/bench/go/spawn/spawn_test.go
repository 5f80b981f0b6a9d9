// Workload 4 (spawn+join): b.N goroutines that only signal a WaitGroup,
// GOMAXPROCS=2; nanoseconds per goroutine.  The same Go-style benchmark as
// tests/bench/bench_spawn.c: `go done(&wg)`, a function with an argument,
// so that no closure is allocated per goroutine.
package spawn

import (
	"sync"
	"testing"
)

func done(wg *sync.WaitGroup) { wg.Done() }

func BenchmarkSpawn(b *testing.B) {
	n := b.N
	var wg sync.WaitGroup

	wg.Add(n)
	for i := 0; i < n; i++ {
		go done(&wg)
	}
	wg.Wait()
}
