// Workload 9 (mutex): two goroutines doing lock/increment/unlock rounds of
// one sync.Mutex (BenchmarkMutex), then of 64 shards padded to 64 bytes
// (BenchmarkMutexShards), GOMAXPROCS=2; nanoseconds per round, b.N rounds
// split between the two.  The same Go-style benchmarks, shapes and checks
// as tests/bench/bench_mutex.c.
package mutex

import (
	"sync"
	"testing"
	"unsafe"
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
	rounds [2]int64 // goroutine g's share, set before it starts
	wg     sync.WaitGroup
)

func oneWorker(g int) {
	n := rounds[g]
	for i := int64(0); i < n; i++ {
		oneMu.Lock()
		oneCount++
		oneMu.Unlock()
	}
	wg.Done()
}

func shardWorker(g int) {
	n := rounds[g]
	start := int64(g) * shardCount / 2
	for i := int64(0); i < n; i++ {
		s := &shards[(i+start)%shardCount]
		s.mu.Lock()
		s.count++
		s.mu.Unlock()
	}
	wg.Done()
}

func runPair(b *testing.B, fn func(int)) {
	n := int64(b.N)
	rounds[0], rounds[1] = n-n/2, n/2
	wg.Add(2)
	for g := 0; g < 2; g++ {
		go fn(g)
	}
	wg.Wait()
	b.StopTimer()
}

func BenchmarkMutex(b *testing.B) {
	oneCount = 0
	runPair(b, oneWorker)
	if oneCount != int64(b.N) {
		b.Fatalf("one mutex: counter %d, want %d", oneCount, b.N)
	}
}

func BenchmarkMutexShards(b *testing.B) {
	if unsafe.Sizeof(shard{}) != 64 || uintptr(unsafe.Pointer(&shards[0]))%64 != 0 {
		b.Fatalf("shards not 64-byte lines")
	}
	for i := range shards {
		shards[i].count = 0
	}
	runPair(b, shardWorker)
	total := int64(0)
	for i := range shards {
		total += shards[i].count
	}
	if total != int64(b.N) {
		b.Fatalf("shards: counters sum to %d, want %d", total, b.N)
	}
}
