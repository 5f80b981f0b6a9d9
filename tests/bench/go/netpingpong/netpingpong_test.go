// Request-response pairs over loopback TCP at GOMAXPROCS=2: four pairs of
// goroutines, b.N round trips of 64 bytes in all; nanoseconds per round
// trip of the whole.  The same Go-style benchmark and checks as
// tests/bench/bench_netpingpong.c.
package netpingpong

import (
	"encoding/binary"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
)

const pairs = 4
const msg = 64

func BenchmarkNetPingPong(b *testing.B) {
	n := int64(b.N)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatalf("listen: %v", err)
	}
	var echoed int64
	var servers, clients sync.WaitGroup
	conns := make([]net.Conn, pairs)
	rounds := make([]int64, pairs)
	bad := make([]int64, pairs)
	servers.Add(pairs)
	for i := 0; i < pairs; i++ {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			b.Fatalf("connect: %v", err)
		}
		sc, err := ln.Accept()
		if err != nil {
			b.Fatalf("connect: %v", err)
		}
		conns[i] = c
		rounds[i] = n / pairs
		if int64(i) < n%pairs {
			rounds[i]++
		}
		go func(c net.Conn) {
			buf := make([]byte, msg)
			k := int64(0)
			for {
				if _, err := io.ReadFull(c, buf); err != nil {
					break
				}
				if _, err := c.Write(buf); err != nil {
					break
				}
				k++
			}
			atomic.AddInt64(&echoed, k)
			c.Close()
			servers.Done()
		}(sc)
	}
	ln.Close()
	clients.Add(pairs)
	b.ResetTimer()
	for i := 0; i < pairs; i++ {
		go func(i int) {
			c := conns[i]
			buf := make([]byte, msg)
			for r := int64(0); r < rounds[i]; r++ {
				binary.LittleEndian.PutUint64(buf, uint64(r))
				if _, err := c.Write(buf); err != nil {
					bad[i] = -1
					break
				}
				if _, err := io.ReadFull(c, buf); err != nil {
					bad[i] = -1
					break
				}
				if int64(binary.LittleEndian.Uint64(buf)) != r {
					bad[i]++
				}
			}
			clients.Done()
		}(i)
	}
	clients.Wait()
	b.StopTimer()
	for i := 0; i < pairs; i++ {
		conns[i].Close()
	}
	servers.Wait()
	for i := 0; i < pairs; i++ {
		if bad[i] != 0 {
			b.Fatalf("pair %d: %d bad round trips", i, bad[i])
		}
	}
	if e := atomic.LoadInt64(&echoed); e != n {
		b.Fatalf("servers echoed %d messages, want %d", e, n)
	}
}
