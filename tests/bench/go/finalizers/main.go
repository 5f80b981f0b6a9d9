// Workload 16 (grt's own): collector pauses with many objects that have
// finalizers.  N (default 2M, os.Args[1]) live 64-byte objects, each with a
// finalizer and a child only it points to, kept in one slice; then T
// seconds (default 10, os.Args[2]) in which one goroutine allocates
// garbage as fast as it can and, every 1024 objects, points one of the N
// at a new child.  value = the longest PauseNs of that phase's cycles, in
// us.  Then the first half is dropped and collected: exactly N/2
// finalizers must run, only for dropped objects, with their children
// intact.  The same program as tests/bench/bench_finalizers.c.
package main

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"sync/atomic"
	"time"

	"grtbench/internal/bench"
)

type child struct {
	id, check int64
}

type fobj struct {
	c   *child
	id  int64
	pad [6]int64
}

var (
	objs         []*fobj
	nobj         int64
	nfinal, nbad int64
	sink         *child
)

func checkOf(id int64) int64 { return id*-7046029254386353131 ^ 0x2545F4914F6CDD1D }

func newChild(id int64) *child { return &child{id: id, check: checkOf(id)} }

func onFinal(o *fobj) {
	if o.id >= nobj/2 || o.c == nil || o.c.id != o.id || o.c.check != checkOf(o.id) {
		atomic.AddInt64(&nbad, 1)
	}
	atomic.AddInt64(&nfinal, 1)
}

func arg(i int, def int64) int64 {
	if len(os.Args) > i {
		if v, err := strconv.ParseInt(os.Args[i], 10, 64); err == nil && v > 0 {
			return v
		}
	}
	return def
}

func main() {
	nobj = arg(1, 2000000)
	secs := arg(2, 10)

	objs = make([]*fobj, nobj)
	for i := int64(0); i < nobj; i++ {
		o := &fobj{id: i, c: newChild(i)}
		runtime.SetFinalizer(o, onFinal)
		objs[i] = o
	}
	runtime.GC()

	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	gc0 := ms.NumGC
	end := time.Now().Add(time.Duration(secs) * time.Second)
	r := uint64(88172645463325252)
	k := int64(0)
	for time.Now().Before(end) {
		for j := 0; j < 1024; j++ {
			sink = &child{}
		}
		r ^= r << 13
		r ^= r >> 7
		r ^= r << 17
		i := int64(r % uint64(nobj))
		objs[i].c = newChild(i)
		k++
	}
	sink = nil
	runtime.ReadMemStats(&ms)
	ngc := ms.NumGC - gc0
	stw := bench.MaxPauseSince(&ms, gc0)
	rss := float64(bench.StatusBytes("VmHWM")) / 1e6

	for i := int64(0); i < nobj/2; i++ {
		objs[i] = nil
	}
	for round := 0; round < 100 && atomic.LoadInt64(&nfinal) < nobj/2; round++ {
		runtime.GC()
		time.Sleep(10 * time.Millisecond)
	}
	if n := atomic.LoadInt64(&nfinal); n != nobj/2 {
		bench.Fail("%d finalizers ran, want %d", n, nobj/2)
	}
	if b := atomic.LoadInt64(&nbad); b != 0 {
		bench.Fail("%d finalizers found their object kept or its child damaged", b)
	}
	for i := nobj / 2; i < nobj; i++ {
		c := objs[i].c
		if objs[i].id != i || c.id != i || c.check != checkOf(i) {
			bench.Fail("kept object %d or its child damaged", i)
		}
	}
	bench.Result("finalizers", "us", float64(stw)/1e3,
		fmt.Sprintf("num_gc=%d rss_mb=%.0f n=%d secs=%d rewires=%d", ngc, rss, nobj, secs, k))
}
