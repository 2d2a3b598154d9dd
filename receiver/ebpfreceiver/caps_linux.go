//go:build linux

package ebpfreceiver

import (
	"bufio"
	"bytes"
	"os"
	"strconv"
	"strings"
)

// Where the reference capability set comes from.
const (
	selfStatusFile = "/proc/self/status"
	capLastCapFile = "/proc/sys/kernel/cap_last_cap"
)

// fullCapabilities is the capability set a privileged container gets on this
// node: the receiver's own bounding set (it runs with every capability the
// node grants: as root on the host, or as a privileged pod), else every
// capability of the running kernel (bits 0..cap_last_cap), else 0
// (container.privileged is then never true).
func fullCapabilities() uint64 {
	if b, err := os.ReadFile(selfStatusFile); err == nil {
		sc := bufio.NewScanner(bytes.NewReader(b))
		for sc.Scan() {
			if v, ok := strings.CutPrefix(sc.Text(), "CapBnd:"); ok {
				if n, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64); err == nil && n != 0 {
					return n
				}
			}
		}
	}
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
