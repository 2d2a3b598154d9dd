//go:build linux

package ebpfreceiver

import (
	"os"
	"strconv"
	"strings"
)

// capLastCapFile holds the highest capability number of the running kernel.
const capLastCapFile = "/proc/sys/kernel/cap_last_cap"

// fullCapabilities is the set of every capability the running kernel has, or
// 0 when the kernel does not say (container.privileged is then never true).
func fullCapabilities() uint64 {
	b, err := os.ReadFile(capLastCapFile)
	if err != nil {
		return 0
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || n < 0 || n > 63 {
		return 0
	}
	return 1<<(uint(n)+1) - 1
}
