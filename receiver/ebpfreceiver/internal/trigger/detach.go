//go:build linux

package trigger

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// maxAncestors bounds the walk up the process tree.
const maxAncestors = 64

// Ancestors returns the names (comm) of the process's ancestors, its parent first, read from
// /proc.
func Ancestors() []string {
	var out []string
	pid := os.Getppid()
	for i := 0; i < maxAncestors && pid > 0; i++ {
		comm, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/comm")
		if err != nil {
			break
		}
		out = append(out, strings.TrimSpace(string(comm)))
		stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
		if err != nil {
			break
		}
		// pid (comm) state ppid ...: comm may hold spaces and parentheses.
		s := string(stat)
		rest := s[strings.LastIndexByte(s, ')')+1:]
		f := strings.Fields(rest)
		if len(f) < 2 {
			break
		}
		if pid, err = strconv.Atoi(f[1]); err != nil {
			break
		}
	}
	return out
}

// WaitOrphaned waits (at most d) until the process's parent is no longer origParent: after a
// detach, the starter exits and the process is adopted by init or a subreaper, so nothing it
// does descends from what started it.
func WaitOrphaned(origParent int, d time.Duration) error {
	deadline := time.Now().Add(d)
	for os.Getppid() == origParent {
		if time.Now().After(deadline) {
			return fmt.Errorf("still a child of %d after %s", origParent, d)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return nil
}
