// jsoncheck [LASTARG] reads /debug/vars from stdin and decodes it with
// Go's own encoding/json into Go's own types: the expvar keys grt
// publishes, and memstats into runtime.MemStats, rejecting any field
// MemStats does not have.  With LASTARG, the last cmdline element must be
// that argument as Go would encode it (invalid UTF-8 as U+FFFD).  It prints
// NumGC, EnableGC and the goroutine count for the caller.
package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
)

type vars struct {
	Cmdline    []string        `json:"cmdline"`
	Goroutines int             `json:"goroutines"`
	Memstats   json.RawMessage `json:"memstats"`
}

func main() {
	in, err := io.ReadAll(os.Stdin)
	if err != nil {
		fmt.Println("read:", err)
		os.Exit(1)
	}
	var v vars
	d := json.NewDecoder(bytes.NewReader(in))
	d.DisallowUnknownFields()
	if err := d.Decode(&v); err != nil {
		fmt.Println("vars:", err)
		os.Exit(1)
	}
	var ms runtime.MemStats
	d = json.NewDecoder(bytes.NewReader(v.Memstats))
	d.DisallowUnknownFields()
	if err := d.Decode(&ms); err != nil {
		fmt.Println("memstats:", err)
		os.Exit(1)
	}
	if len(v.Cmdline) == 0 || v.Goroutines <= 0 || ms.Sys == 0 || ms.HeapAlloc == 0 || ms.Mallocs == 0 {
		fmt.Printf("implausible: cmdline %q goroutines %d Sys %d HeapAlloc %d Mallocs %d\n",
			v.Cmdline, v.Goroutines, ms.Sys, ms.HeapAlloc, ms.Mallocs)
		os.Exit(1)
	}
	if len(os.Args) > 1 {
		want := strings.ToValidUTF8(os.Args[1], "\uFFFD")
		if got := v.Cmdline[len(v.Cmdline)-1]; got != want {
			fmt.Printf("last cmdline element %q, want %q\n", got, want)
			os.Exit(1)
		}
	}
	fmt.Printf("NumGC=%d EnableGC=%v goroutines=%d\n", ms.NumGC, ms.EnableGC, v.Goroutines)
}
