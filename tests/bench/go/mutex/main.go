// Workload 9 (mutex): two goroutines x N lock/increment/unlock of one
// sync.Mutex, then of 64 shards padded to 64 bytes, GOMAXPROCS=2;
// nanoseconds per round.  Same shapes and checks as
// tests/bench/bench_mutex.c.
package main

import (
	"fmt"
	"sync"
	"time"
	"unsafe"

	"grtbench/internal/bench"
)

const shardCount = 64

type shard struct {
	mu    sync.Mutex
	count int64
	_     [64 - 16]byte
}

var (
	oneMu    sync.Mutex
	oneCount int64 // protected by oneMu
	// make: 64 x 64 = 4096 bytes, a size class whose objects are
	// 4096-aligned, so every shard is one aligned cache line (checked).
	shards = make([]shard, shardCount)
	rounds int64
	wg     sync.WaitGroup
)

func oneWorker(g int) {
	for i := int64(0); i < rounds; i++ {
		oneMu.Lock()
		oneCount++
		oneMu.Unlock()
	}
	wg.Done()
}

func shardWorker(g int) {
	start := int64(g) * shardCount / 2
	for i := int64(0); i < rounds; i++ {
		s := &shards[(i+start)%shardCount]
		s.mu.Lock()
		s.count++
		s.mu.Unlock()
	}
	wg.Done()
}

func runPair(fn func(int)) time.Duration {
	t0 := time.Now()
	wg.Add(2)
	for g := 0; g < 2; g++ {
		go fn(g)
	}
	wg.Wait()
	return time.Since(t0)
}

func main() {
	rounds = bench.Size(5_000_000)
	if unsafe.Sizeof(shard{}) != 64 || uintptr(unsafe.Pointer(&shards[0]))%64 != 0 {
		bench.Fail("shards not 64-byte lines")
	}

	eOne := runPair(oneWorker)
	if oneCount != 2*rounds {
		bench.Fail("one mutex: counter %d, want %d", oneCount, 2*rounds)
	}
	eShards := runPair(shardWorker)
	total := int64(0)
	for i := range shards {
		total += shards[i].count
	}
	if total != 2*rounds {
		bench.Fail("shards: counters sum to %d, want %d", total, 2*rounds)
	}
	bench.Result("mutex", "ns/op", float64(eOne.Nanoseconds())/float64(2*rounds),
		fmt.Sprintf("n=%d shards=%.3f", rounds, float64(eShards.Nanoseconds())/float64(2*rounds)))
}
