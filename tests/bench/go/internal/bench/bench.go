// Package bench holds the helpers shared by the Go versions of grt's
// whole-program benchmark workloads (tests/bench/go/<name>/main.go; the
// per-operation ones are testing.B benchmarks, <name>_test.go, and use
// only StatusBytes).  It mirrors tests/bench/bench.h: the same size
// argument, the same checks-then-fail convention, the same one result
// line, so run.sh reads both alike:
//
//	result name=<workload> impl=go unit=<unit> value=<number> [key=value ...]
package bench

import (
	"bufio"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
)

// Fail prints "FAIL: ..." to stderr and exits with status 1.
func Fail(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, "FAIL: "+format+"\n", args...)
	os.Exit(1)
}

// Size returns os.Args[1] if given (a positive integer), else def.
func Size(def int64) int64 {
	if len(os.Args) < 2 {
		return def
	}
	n, err := strconv.ParseInt(os.Args[1], 10, 64)
	if err != nil || n <= 0 {
		Fail("bad size argument %q (want a positive integer)", os.Args[1])
	}
	return n
}

// Result prints the one result line; extra is appended as is.
func Result(name, unit string, value float64, extra string) {
	line := fmt.Sprintf("result name=%s impl=go unit=%s value=%.3f procs=%d",
		name, unit, value, runtime.GOMAXPROCS(0))
	if extra != "" {
		line += " " + extra
	}
	fmt.Println(line)
}

// StatusBytes returns one "Key: <n> kB" field of /proc/self/status in
// bytes, or -1.
func StatusBytes(key string) int64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return -1
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, key+":") {
			fields := strings.Fields(line[len(key)+1:])
			if len(fields) == 0 {
				return -1
			}
			v, err := strconv.ParseInt(fields[0], 10, 64)
			if err != nil {
				return -1
			}
			return v * 1024
		}
	}
	return -1
}

// RSS returns VmRSS in bytes.
func RSS() int64 { return StatusBytes("VmRSS") }

// MapCount returns the number of lines of /proc/self/maps.
func MapCount() int64 {
	b, err := os.ReadFile("/proc/self/maps")
	if err != nil {
		return -1
	}
	return int64(strings.Count(string(b), "\n"))
}

// MaxMapCount returns vm.max_map_count, or -1.
func MaxMapCount() int64 {
	b, err := os.ReadFile("/proc/sys/vm/max_map_count")
	if err != nil {
		return -1
	}
	v, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		return -1
	}
	return v
}

// MaxPauseSince is the longest stop-the-world pause, in ns, of the cycles
// after cycle gc0 that ms's PauseNs ring still holds (its last 256).
func MaxPauseSince(ms *runtime.MemStats, gc0 uint32) uint64 {
	max := uint64(0)
	for i := gc0 + 1; i <= ms.NumGC; i++ {
		if i+256 <= ms.NumGC {
			continue // overwritten in the ring
		}
		if p := ms.PauseNs[(i+255)%256]; p > max {
			max = p
		}
	}
	return max
}
