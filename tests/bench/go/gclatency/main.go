// Workload 12 (GC latency): L (default 16M, os.Args[1]) live linked 64-byte
// objects (1 GiB, one list from a global), then T seconds (default 10,
// os.Args[2]) of 64-byte garbage paced at 512 MiB/s in 16 KiB batches of
// 256 objects by one goroutine, GOMAXPROCS=2.  The same program as
// tests/bench/bench_gclatency.c, which defines the figures: value = the
// longest mutator stall in ms (gap between two batch ends beyond the sleep
// asked for), stw_us = the longest PauseNs of the cycles of the paced
// phase, gccpu_pct = (process CPU of the phase - batches x CPU per batch
// of the same loop with SetGCPercent(-1), measured on a warmed heap) /
// wall time of the phase, in % of one CPU.
package main

import (
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"syscall"
	"time"
	"unsafe"

	"grtbench/internal/bench"
)

const (
	objSize       = 64
	batchBytes    = 16 * 1024
	perBatch      = batchBytes / objSize
	batchesPerSec = 32768 // 512 MiB/s in 16 KiB batches
	sleepMin      = 50 * time.Microsecond
)

type lnode struct {
	next *lnode
	val  int64
	pad  [6]int64
}

var (
	live  *lnode // the live list
	sink  *lnode // the last batch of garbage
	dirty int64  // fresh objects that were not zeroed
)

func batch() {
	var h *lnode
	for i := 0; i < perBatch; i++ {
		n := &lnode{}
		if n.next != nil || n.val != 0 {
			dirty++
		}
		n.next = h
		n.val = int64(i)
		h = n
	}
	sink = h
}

func cpuNs() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return -1
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}

type pace struct {
	batches, wallNs, cpuNs, maxGapNs, maxBatchNs int64
}

func paced(dur time.Duration) pace {
	var st pace
	cpu0 := cpuNs()
	t0 := time.Now()
	prevEnd, asked, k := t0, time.Duration(0), int64(0)
	var e time.Time
	for {
		s := time.Now()
		batch()
		k++
		e = time.Now()
		if g := int64(e.Sub(prevEnd) - asked); g > st.maxGapNs {
			st.maxGapNs = g
		}
		if b := int64(e.Sub(s)); b > st.maxBatchNs {
			st.maxBatchNs = b
		}
		prevEnd = e
		asked = 0
		if e.Sub(t0) >= dur {
			break
		}
		due := t0.Add(time.Duration(k * int64(time.Second) / batchesPerSec))
		if d := due.Sub(e); d >= sleepMin {
			asked = d
			time.Sleep(d)
		}
	}
	st.cpuNs = cpuNs() - cpu0
	st.wallNs = int64(e.Sub(t0))
	st.batches = k
	sink = nil
	return st
}

func arg(i int, def int64) int64 {
	if len(os.Args) <= i {
		return def
	}
	n, err := strconv.ParseInt(os.Args[i], 10, 64)
	if err != nil || n <= 0 {
		bench.Fail("bad argument %d %q (want a positive integer)", i, os.Args[i])
	}
	return n
}

func main() {
	if unsafe.Sizeof(lnode{}) != objSize {
		bench.Fail("lnode is %d bytes", unsafe.Sizeof(lnode{}))
	}
	nlive := bench.Size(16 * 1024 * 1024)
	secs := arg(2, 10)
	dur := time.Duration(secs) * time.Second
	cal := dur / 10
	if cal < time.Second/4 {
		cal = time.Second / 4
	}

	// Warm the heap: as much garbage as the calibration will make, with
	// the collector off, then collected.
	old := debug.SetGCPercent(-1)
	for i := int64(0); i < int64(cal)*batchesPerSec/int64(time.Second); i++ {
		batch()
	}
	sink = nil
	debug.SetGCPercent(old)
	runtime.GC()

	// Calibrate: the paced loop with the collector off.
	debug.SetGCPercent(-1)
	c := paced(cal)
	debug.SetGCPercent(old)
	runtime.GC()
	cpuPerBatch := float64(c.cpuNs) / float64(c.batches)

	// The live list, built with the collector on.
	tb := time.Now()
	var h *lnode
	for i := int64(0); i < nlive; i++ {
		n := &lnode{}
		if n.next != nil || n.val != 0 {
			dirty++
		}
		n.next = h
		n.val = i
		h = n
	}
	live = h
	h = nil
	build := time.Since(tb)
	runtime.GC()

	// The measured phase.
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	gc0 := ms.NumGC
	p := paced(dur)
	runtime.ReadMemStats(&ms)
	ngc := ms.NumGC - gc0
	stw := bench.MaxPauseSince(&ms, gc0)

	// Checks.
	count, sum := int64(0), int64(0)
	for n := live; n != nil; n = n.next {
		count++
		sum += n.val
	}
	if count != nlive || sum != nlive*(nlive-1)/2 {
		bench.Fail("live list: %d nodes summing to %d, want %d and %d",
			count, sum, nlive, nlive*(nlive-1)/2)
	}
	if dirty != 0 {
		bench.Fail("%d fresh objects were not zeroed", dirty)
	}
	rate := float64(p.batches) * batchBytes / (float64(p.wallNs) / 1e9) / (1024 * 1024)
	if rate < 500 { // a finding, not a wrong result: rate_mibs shows it
		fmt.Fprintf(os.Stderr, "warning: the paced phase reached %.0f MiB/s, not 512\n", rate)
	}

	gccpu := (float64(p.cpuNs) - cpuPerBatch*float64(p.batches)) / float64(p.wallNs) * 100
	bench.Result("gclatency", "ms", float64(p.maxGapNs)/1e6,
		fmt.Sprintf("stw_us=%.1f gccpu_pct=%.2f batch_max_ms=%.3f stall_nogc_ms=%.3f"+
			" mutator_pct=%.2f num_gc=%d rate_mibs=%.0f build_s=%.2f rss_mb=%.0f live=%d secs=%d",
			float64(stw)/1e3, gccpu, float64(p.maxBatchNs)/1e6, float64(c.maxGapNs)/1e6,
			cpuPerBatch*batchesPerSec/1e9*100, ngc, rate, build.Seconds(),
			float64(bench.StatusBytes("VmHWM"))/1e6, nlive, secs))
}
