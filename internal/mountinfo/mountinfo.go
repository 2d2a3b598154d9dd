// Package mountinfo reads /proc/<pid>/mountinfo.
package mountinfo

import (
	"bufio"
	"fmt"
	"os"
	"strings"
)

// Cgroup2 returns where the cgroup2 hierarchy is mounted, from a mountinfo file
// ("36 35 0:30 / /sys/fs/cgroup/unified rw,... - cgroup2 cgroup2 rw,...").
func Cgroup2(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		for i, fld := range fields {
			if fld == "-" && i+1 < len(fields) && fields[i+1] == "cgroup2" && len(fields) > 4 {
				return fields[4], nil
			}
		}
	}
	if err := sc.Err(); err != nil {
		return "", err
	}
	return "", fmt.Errorf("no cgroup2 mount in %s", path)
}
