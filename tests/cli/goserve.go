// goserve — a Go program serving net/http/pprof on a free loopback port,
// for tests/cli/url_test.sh: heapscope reads profiles from a URL as go
// tool pprof does (Go's server sends a chunked body).  It keeps 500
// blocks of 8192 B from keptSite (MemProfileRate = 1: exact), prints
// "port N" and serves until its standard input closes.
package main

import (
	"fmt"
	"io"
	"net"
	"net/http"
	_ "net/http/pprof"
	"os"
	"runtime"
)

var kept [][]byte

//go:noinline
func keptSite() {
	for i := range kept {
		kept[i] = make([]byte, 8192)
	}
}

func main() {
	runtime.MemProfileRate = 1
	kept = make([][]byte, 500)
	keptSite()
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Printf("port %d\n", listener.Addr().(*net.TCPAddr).Port)
	go http.Serve(listener, nil)
	io.Copy(io.Discard, os.Stdin)
	runtime.KeepAlive(kept)
}
