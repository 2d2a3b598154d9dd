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

// Mount is one line of a mountinfo file.
type Mount struct {
	ID, Parent   uint32
	Major, Minor uint32
	Root         string // the directory of the file system the mount shows ("/": all of it)
	MountPoint   string
	FSType       string
}

// MaxMounts bounds the lines Parse reads: a mount namespace with more is refused.
const MaxMounts = 1 << 16

// Parse reads every mount of a mountinfo file, in its order (a mount after its parent).
func Parse(path string) ([]Mount, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []Mount
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for line := 1; sc.Scan(); line++ {
		if line > MaxMounts {
			return nil, fmt.Errorf("%s: more than %d mounts", path, MaxMounts)
		}
		m, err := parseLine(sc.Text())
		if err != nil {
			return nil, fmt.Errorf("%s line %d: %w", path, line, err)
		}
		out = append(out, m)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	return out, nil
}

// parseLine parses "36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue".
func parseLine(s string) (Mount, error) {
	fields := strings.Fields(s)
	sep := -1
	for i, f := range fields {
		if f == "-" && i >= 6 {
			sep = i
			break
		}
	}
	if sep < 0 || sep+1 >= len(fields) {
		return Mount{}, fmt.Errorf("malformed mountinfo line %q", s)
	}
	var m Mount
	if _, err := fmt.Sscanf(fields[0]+" "+fields[1]+" "+fields[2], "%d %d %d:%d", &m.ID, &m.Parent, &m.Major, &m.Minor); err != nil {
		return Mount{}, fmt.Errorf("mount id, parent or device of %q: %w", s, err)
	}
	m.Root, m.MountPoint, m.FSType = unescape(fields[3]), unescape(fields[4]), fields[sep+1]
	return m, nil
}

// unescape undoes the kernel's octal escapes of space, tab, newline and backslash ("\040").
func unescape(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && isOctal(s[i+1:min(i+4, len(s))]) {
			b.WriteByte((s[i+1]-'0')<<6 | (s[i+2]-'0')<<3 | (s[i+3] - '0'))
			i += 3
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func isOctal(s string) bool {
	if len(s) != 3 {
		return false
	}
	for i := 0; i < 3; i++ {
		if s[i] < '0' || s[i] > '7' {
			return false
		}
	}
	return s[0] <= '3'
}
