// A companion of workload 12 (gcgrow): a heap that grows to b.N live
// 64-byte objects, then b.N random replacements, one goroutine
// (GOMAXPROCS=1 in run.sh).  The same program, check and metrics as
// tests/bench/bench_gcgrow.c: stall_ms is the longest gap between two
// checkpoints 1024 allocations apart; num_gc, maxpause_us, rss_mb.
package gcgrow

import (
	"runtime"
	"testing"
	"time"
	"unsafe"

	"grtbench/internal/bench"
)

type obj struct {
	l, r *obj
	v    [6]int64
}

var fixed [1024]*obj
var arr []*obj

func BenchmarkGCGrow(b *testing.B) {
	if unsafe.Sizeof(obj{}) != 64 {
		b.Fatalf("obj is %d bytes", unsafe.Sizeof(obj{}))
	}
	n := int64(b.N)
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	gc0 := ms.NumGC
	for i := range fixed {
		fixed[i] = &obj{}
		fixed[i].v[0] = int64(i)
	}
	arr = make([]*obj, n)
	var stored, read, worst, bad int64
	x := uint64(88172645463325252)
	prev := time.Now()
	for i := int64(0); i < 2*n; i++ {
		o := &obj{}
		o.l = fixed[i&1023]
		if i < n {
			o.v[0] = i
			arr[i] = o
		} else {
			x ^= x << 13
			x ^= x >> 7
			x ^= x << 17
			k := int64(x % uint64(n))
			old := arr[k]
			read += old.v[0]
			f := int64(-1)
			if old.l != nil {
				f = old.l.v[0]
			}
			if f < 0 || f > 1023 || fixed[f] != old.l {
				bad++
			}
			o.v[0] = i & 0xffff
			arr[k] = o
		}
		stored += o.v[0]
		if i&1023 == 0 {
			now := time.Now()
			if d := int64(now.Sub(prev)); d > worst {
				worst = d
			}
			prev = now
		}
	}
	b.StopTimer()
	for k := int64(0); k < n; k++ {
		read += arr[k].v[0]
	}
	arr = nil
	if read != stored || bad != 0 {
		b.Fatalf("values read %d, stored %d; %d bad links", read, stored, bad)
	}

	runtime.ReadMemStats(&ms)
	b.ReportMetric(float64(worst)/1e6, "stall_ms")
	b.ReportMetric(float64(ms.NumGC-gc0), "num_gc")
	b.ReportMetric(float64(bench.MaxPauseSince(&ms, gc0))/1e3, "maxpause_us")
	b.ReportMetric(float64(bench.StatusBytes("VmHWM"))/1e6, "rss_mb")
}
