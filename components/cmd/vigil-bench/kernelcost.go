//go:build linux

package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"
)

// bpfRuntime sums the run time and run count of every BPF program loaded on
// the machine (the collector's, during a storm: the others are idle). It needs
// the kernel's BPF statistics on (ebpf.EnableStats).
func bpfRuntime() (time.Duration, uint64, error) {
	var total time.Duration
	var runs uint64
	id := ebpf.ProgramID(0)
	for {
		next, err := ebpf.ProgramGetNextID(id)
		if errors.Is(err, os.ErrNotExist) {
			return total, runs, nil
		}
		if err != nil {
			return 0, 0, err
		}
		id = next
		p, err := ebpf.NewProgramFromID(id)
		if err != nil {
			continue // unloaded meanwhile
		}
		st, err := p.Stats()
		p.Close()
		if err != nil {
			return 0, 0, err
		}
		total += st.Runtime
		runs += st.RunCount
	}
}

// kernelCost runs a shorter open storm once per scenario with the kernel's BPF
// statistics on and prints the BPF run time per open+close: the in-kernel
// cost of each rule set, read directly instead of from wall times, which the
// machine's noise blurs (the statistics add their own clock reads to every
// program run, the same in every row).
func kernelCost(o options, out io.Writer, target string, rows []costRow) error {
	stats, err := ebpf.EnableStats(uint32(unix.BPF_STATS_RUN_TIME))
	if err != nil {
		return fmt.Errorf("enabling BPF statistics: %w", err)
	}
	defer stats.Close()
	n := min(o.opens, 200000)
	fmt.Fprintf(out, "\nIn-kernel cost: BPF run time per open+close (kernel statistics, %d opens per row, one round)\n\n", n)
	fmt.Fprintf(out, "| scenario | BPF programs run | BPF time per open+close | over the hook-cost row |\n|---|---|---|---|\n")
	var hook float64
	for i, r := range rows {
		bin := r.bin
		if bin == "" {
			bin = o.bin
		}
		c, err := startCollector(o, bin, o.openConfig, "BENCH_POLICIES="+r.policies, "BENCH_USER_SPACE=false",
			"BENCH_OUTPUT="+filepath.Join(o.workdir, "cost-"+strconv.Itoa(i)+".pb"))
		if err != nil {
			return fmt.Errorf("%s: %w", r.name, err)
		}
		t0, c0, err := bpfRuntime()
		if err == nil {
			_, err = openLoop(target, n)
		}
		t1, c1, err2 := bpfRuntime()
		c.stop()
		if err = errors.Join(err, err2); err != nil {
			return fmt.Errorf("%s: %w", r.name, err)
		}
		per := float64(t1-t0) / float64(n)
		if i == 0 {
			hook = per
		}
		fmt.Fprintf(out, "| %s | %.1f per open | %.0f ns | %+.0f ns |\n", r.name, float64(c1-c0)/float64(n), per, per-hook)
	}
	return nil
}

type costRow struct{ name, policies, bin string } // bin "": -collector
