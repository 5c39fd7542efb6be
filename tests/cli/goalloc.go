// goalloc — a Go program that allocates at known sites and writes
// runtime/pprof heap and allocs profiles, for the CLI tests
// (tests/cli/*_test.sh).  Usage: goalloc HOT_SCALE OUT_PREFIX
// writes OUT_PREFIX.heap.pb.gz and OUT_PREFIX.allocs.pb.gz.  Every
// allocation is recorded (MemProfileRate = 1), so values are exact.
package main

import (
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"
	"strconv"
)

var sink []byte
var kept [][]byte

//go:noinline
func hotSite(n int) {
	for i := 0; i < n; i++ {
		sink = make([]byte, 4096)
	}
}

//go:noinline
func warmSite(n int) {
	for i := 0; i < n; i++ {
		sink = make([]byte, 1000)
	}
}

//go:noinline
func leakSite(n int) {
	kept = make([][]byte, 0, n)
	for i := 0; i < n; i++ {
		kept = append(kept, make([]byte, 512))
	}
}

//go:noinline
func middle(n int) {
	warmSite(n)
	leakSite(n / 2)
}

func write(name, path string) {
	f, err := os.Create(path)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if err := pprof.Lookup(name).WriteTo(f, 0); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	f.Close()
}

func main() {
	runtime.MemProfileRate = 1
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: goalloc HOT_SCALE OUT_PREFIX")
		os.Exit(2)
	}
	scale, err := strconv.Atoi(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	hotSite(scale * 1000)
	middle(800)
	runtime.GC()
	write("heap", os.Args[2]+".heap.pb.gz")
	write("allocs", os.Args[2]+".allocs.pb.gz")
	runtime.KeepAlive(kept)
}
