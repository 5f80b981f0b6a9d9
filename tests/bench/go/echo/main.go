// Workload 14 (echo), the Go server: the twin of tests/bench/bench_echo.c.
// A TCP echo server with one goroutine per connection on 127.0.0.1, a port
// the kernel picks; prints "listening ADDR" and serves until killed.
// tests/bench/echo_load.c starts it pinned to CPU 0 and drives it.
package main

import (
	"fmt"
	"net"
	"os"

	"grtbench/internal/bench"
)

func serve(c net.Conn) {
	buf := make([]byte, 4096)
	for {
		n, err := c.Read(buf)
		if n <= 0 || err != nil {
			break
		}
		if _, err := c.Write(buf[:n]); err != nil {
			break
		}
	}
	c.Close()
}

func main() {
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		bench.Fail("listen: %v", err)
	}
	fmt.Printf("listening %s\n", l.Addr().String())
	os.Stdout.Sync()
	for {
		c, err := l.Accept()
		if err != nil {
			bench.Fail("accept: %v", err)
		}
		go serve(c)
	}
}
