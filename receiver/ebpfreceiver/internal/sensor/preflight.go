//go:build linux

package sensor

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// Capability bits from linux/capability.h.
const (
	capSysAdmin = 21
	capPerfmon  = 38
	capBPF      = 39
)

// Preflight checks, before anything is loaded, the two things whose absence the
// kernel would otherwise report as an unhelpful verifier or EPERM error: kernel BTF
// (CO-RE needs it) and the privileges to load tracing programs. The returned error
// is one sentence saying what is missing.
func Preflight(btfPath, procStatusPath string) error {
	if _, err := os.Stat(btfPath); err != nil {
		return fmt.Errorf("kernel BTF is missing (%s: %w): Vigil needs a kernel built with CONFIG_DEBUG_INFO_BTF=y (5.8 or newer; every mainstream distribution kernel has it)", btfPath, err)
	}
	eff, err := effectiveCaps(procStatusPath)
	if err != nil {
		return fmt.Errorf("reading process capabilities: %w", err)
	}
	has := func(c uint) bool { return eff&(1<<c) != 0 }
	if has(capSysAdmin) || (has(capBPF) && has(capPerfmon)) {
		return nil
	}
	return errors.New("missing privileges to load eBPF sensors: run as root or grant CAP_BPF and CAP_PERFMON (or CAP_SYS_ADMIN on kernels older than 5.8)")
}

func effectiveCaps(path string) (uint64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "CapEff:"); ok {
			return strconv.ParseUint(strings.TrimSpace(v), 16, 64)
		}
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	return 0, fmt.Errorf("%s has no CapEff line", path)
}
