//go:build !linux

// Command vigil-bench measures the collector's eBPF sensors, which exist only on Linux.
package main

import (
	"fmt"
	"os"
)

func main() {
	fmt.Fprintln(os.Stderr, "vigil-bench: the ebpf receiver runs only on linux")
	os.Exit(1)
}
