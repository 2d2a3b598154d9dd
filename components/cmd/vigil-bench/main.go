//go:build linux

// Command vigil-bench measures Vigil's overhead side by side in one run and prints
// ratios (absolute times on a shared machine are not comparable between runs).
//
// Exec storm: fork+exec of /bin/true N times, with no collector and with the
// ocb-built collector running the process sensor; scenarios are interleaved and
// repeated, the median is reported. The collector's CPU time (utime+stime from
// /proc) and RSS are read around each storm; its own metrics show that every event
// was received or counted as lost.
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "vigil-bench:", err)
		os.Exit(1)
	}
}

type options struct {
	bin        string
	config     string
	execs      int
	rounds     int
	opens      int
	openConfig string
	only       string
	workdir    string
	// rules25 is the 25-rule set shaped like Falco's stable rules, pack the
	// default detection pack (rules/); empty is a directory with no policy.
	rules25, pack, none string
	// baseline is another collector build run on the matching open storm too.
	baseline string
}

func run(args []string, out io.Writer) error {
	fs := flag.NewFlagSet("vigil-bench", flag.ContinueOnError)
	var o options
	fs.StringVar(&o.bin, "collector", os.Getenv("VIGIL_COLLECTOR_BIN"), "ocb-built otelcol-vigil")
	fs.StringVar(&o.config, "config", "testdata/bench/collector.yaml", "collector configuration")
	fs.IntVar(&o.execs, "execs", 5000, "fork+exec of /bin/true per storm")
	fs.IntVar(&o.rounds, "rounds", 3, "interleaved repetitions of each scenario")
	fs.IntVar(&o.opens, "opens", 500000, "open+close per open storm")
	fs.StringVar(&o.only, "only", "", "run only one benchmark: exec or open")
	fs.StringVar(&o.openConfig, "open-config", "testdata/bench/open-storm.yaml", "collector configuration for the open storm")
	fs.StringVar(&o.rules25, "rules25", "receiver/ebpfreceiver/internal/rules/falco/testdata/shapes.yaml", "the 25-rule set (Falco rules file)")
	fs.StringVar(&o.pack, "pack", "rules", "the default detection pack")
	fs.StringVar(&o.baseline, "baseline", os.Getenv("VIGIL_BASELINE_BIN"), "another collector build to run the matching open storm on, side by side")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if o.bin == "" {
		return errors.New("no collector binary: pass -collector or set VIGIL_COLLECTOR_BIN (make bench does)")
	}
	dir, err := os.MkdirTemp("", "vigil-bench")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	o.workdir = dir
	// The collector reads the policy paths from its environment: absolute.
	for _, p := range []*string{&o.rules25, &o.pack} {
		if *p, err = filepath.Abs(*p); err != nil {
			return err
		}
		if _, err := os.Stat(*p); err != nil {
			return fmt.Errorf("rule set: %w", err)
		}
	}
	o.none = filepath.Join(dir, "no-policies")
	if err := os.Mkdir(o.none, 0o755); err != nil {
		return err
	}
	if o.only != "open" {
		if err := execStorm(o, out); err != nil {
			return err
		}
		fmt.Fprintln(out)
	}
	if o.only == "exec" {
		return nil
	}
	return openStorm(o, out)
}

type sample struct {
	wall       time.Duration
	cpu        time.Duration // collector CPU during the storm
	rssIdleKB  int64
	rssAfterKB int64
	anonIdleKB int64   // RssAnon: private memory, without the binary's file pages and the ring buffer mapping
	received   float64 // exec+exit records the receiver read
	lost       float64 // counted losses (kernel + queue)
}

// execScenario is a collector configuration the exec storm runs under.
type execScenario struct {
	name     string
	policies string
}

func execStorm(o options, out io.Writer) error {
	scenarios := []execScenario{
		{"collector, process sensor", o.none},
		{"collector, 25-rule set", o.rules25},
		{"collector, default pack (rules/)", o.pack},
	}
	var base []sample
	with := make([][]sample, len(scenarios))
	for r := 0; r < o.rounds; r++ {
		wall, err := storm(o.execs)
		if err != nil {
			return err
		}
		base = append(base, sample{wall: wall})
		for i, sc := range scenarios {
			s, err := withCollector(o, sc, r)
			if err != nil {
				return fmt.Errorf("%s: %w", sc.name, err)
			}
			with[i] = append(with[i], s)
		}
	}
	bw := median(base, func(s sample) float64 { return float64(s.wall) })
	fmt.Fprintf(out, "Exec storm: %d x fork+exec /bin/true, %d interleaved rounds, medians\n\n", o.execs, o.rounds)
	fmt.Fprintf(out, "| scenario | storm wall time | ratio to no collector | collector CPU | CPU per exec+exit | RSS idle (anon) | RSS after storm | records received | counted lost |\n")
	fmt.Fprintf(out, "|---|---|---|---|---|---|---|---|---|\n")
	fmt.Fprintf(out, "| no collector | %s | 1.00 | - | - | - | - | - | - |\n", time.Duration(bw).Round(time.Millisecond))
	for i, sc := range scenarios {
		v := with[i]
		ww := median(v, func(s sample) float64 { return float64(s.wall) })
		cpu := median(v, func(s sample) float64 { return float64(s.cpu) })
		idle := median(v, func(s sample) float64 { return float64(s.rssIdleKB) })
		after := median(v, func(s sample) float64 { return float64(s.rssAfterKB) })
		anon := median(v, func(s sample) float64 { return float64(s.anonIdleKB) })
		recv := median(v, func(s sample) float64 { return s.received })
		lost := median(v, func(s sample) float64 { return s.lost })
		fmt.Fprintf(out, "| %s | %s | %.3f (%+.1f%%) | %s | %.1f µs | %.1f MB (%.1f MB) | %.1f MB | %.0f | %.0f |\n", sc.name,
			time.Duration(ww).Round(time.Millisecond), ww/bw, (ww/bw-1)*100, time.Duration(cpu).Round(time.Millisecond),
			cpu/float64(time.Microsecond)/float64(o.execs), idle/1024, anon/1024, after/1024, recv, lost)
		if recv < float64(3*o.execs) && lost == 0 {
			return fmt.Errorf("%s: receiver read %.0f records for %d execs (expected >= %d) and counted no loss", sc.name, recv, o.execs, 3*o.execs)
		}
	}
	fmt.Fprintf(out, "\nper round, wall time (no collector / each scenario): ")
	for r := range base {
		fmt.Fprintf(out, "%s", base[r].wall.Round(time.Millisecond))
		for i := range scenarios {
			fmt.Fprintf(out, "/%s", with[i][r].wall.Round(time.Millisecond))
		}
		fmt.Fprintf(out, " ")
	}
	fmt.Fprintln(out)
	return nil
}

// storm forks and execs /bin/true n times, one after the other.
func storm(n int) (time.Duration, error) {
	attr := &syscall.ProcAttr{Files: []uintptr{0, 1, 2}}
	start := time.Now()
	for range n {
		pid, err := syscall.ForkExec("/bin/true", []string{"/bin/true"}, attr)
		if err != nil {
			return 0, err
		}
		var ws syscall.WaitStatus
		if _, err := syscall.Wait4(pid, &ws, 0, nil); err != nil {
			return 0, err
		}
	}
	return time.Since(start), nil
}

func withCollector(o options, sc execScenario, round int) (sample, error) {
	var s sample
	port, err := freePort()
	if err != nil {
		return s, err
	}
	cmd := exec.Command(o.bin, "--config", o.config)
	cmd.Env = append(os.Environ(), "BENCH_OUTPUT="+filepath.Join(o.workdir, fmt.Sprintf("events-%d.json", round)),
		"BENCH_METRICS_PORT="+port, "BENCH_POLICIES="+sc.policies)
	logf, err := os.Create(filepath.Join(o.workdir, "collector.log"))
	if err != nil {
		return s, err
	}
	defer logf.Close()
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		return s, err
	}
	defer func() { _ = cmd.Process.Signal(syscall.SIGTERM); _ = cmd.Wait() }()
	metricsURL := "http://127.0.0.1:" + port + "/metrics"
	if err := waitMetric(metricsURL, "otelcol_ebpf_process_cache_entries", 60*time.Second); err != nil {
		return s, fmt.Errorf("collector did not start: %w (log: %s)", err, logf.Name())
	}
	time.Sleep(2 * time.Second) // settle: idle RSS
	if s.rssIdleKB, err = statusKB(cmd.Process.Pid, "VmRSS:"); err != nil {
		return s, err
	}
	if s.anonIdleKB, err = statusKB(cmd.Process.Pid, "RssAnon:"); err != nil {
		return s, err
	}
	m0, err := scrape(metricsURL)
	if err != nil {
		return s, err
	}
	cpu0, err := cpuTime(cmd.Process.Pid)
	if err != nil {
		return s, err
	}
	if s.wall, err = storm(o.execs); err != nil {
		return s, err
	}
	// Let the collector drain what the storm produced before reading its CPU.
	time.Sleep(1500 * time.Millisecond)
	cpu1, err := cpuTime(cmd.Process.Pid)
	if err != nil {
		return s, err
	}
	s.cpu = cpu1 - cpu0
	if s.rssAfterKB, err = statusKB(cmd.Process.Pid, "VmRSS:"); err != nil {
		return s, err
	}
	m1, err := scrape(metricsURL)
	if err != nil {
		return s, err
	}
	s.received = m1.sum("otelcol_ebpf_events_received") - m0.sum("otelcol_ebpf_events_received")
	s.lost = m1.sum("otelcol_ebpf_kernel_events_lost") - m0.sum("otelcol_ebpf_kernel_events_lost") +
		m1.sum("otelcol_ebpf_events_dropped") - m0.sum("otelcol_ebpf_events_dropped")
	return s, nil
}

type metrics map[string]float64

func (m metrics) sum(prefix string) float64 {
	var t float64
	for k, v := range m {
		if strings.HasPrefix(k, prefix) {
			t += v
		}
	}
	return t
}

// sumWhere sums the series of a metric whose labels contain substr.
func (m metrics) sumWhere(prefix, substr string) float64 {
	var t float64
	for k, v := range m {
		if strings.HasPrefix(k, prefix) && strings.Contains(k, substr) {
			t += v
		}
	}
	return t
}

func scrape(url string) (metrics, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	m := metrics{}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") || line == "" {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			continue
		}
		m[line[:i]] = v
	}
	return m, sc.Err()
}

func waitMetric(url, name string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if m, err := scrape(url); err == nil && m.sum(name) > 0 {
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("no %s at %s after %s", name, url, timeout)
}

func cpuTime(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// Fields after the command name (which may contain spaces) start after ") ".
	rest := string(b[strings.LastIndexByte(string(b), ')')+2:])
	f := strings.Fields(rest)
	if len(f) < 13 {
		return 0, fmt.Errorf("short /proc/%d/stat", pid)
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, err
	}
	const hz = 100 // USER_HZ
	return time.Duration(ut+st) * time.Second / hz, nil
}

func statusKB(pid int, field string) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, field); ok {
			return strconv.ParseInt(strings.Fields(v)[0], 10, 64)
		}
	}
	return 0, fmt.Errorf("no %s for pid %d", field, pid)
}

func freePort() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	_, port, err := net.SplitHostPort(l.Addr().String())
	return port, err
}

func median(s []sample, f func(sample) float64) float64 {
	v := make([]float64, len(s))
	for i, x := range s {
		v[i] = f(x)
	}
	slices.Sort(v)
	if len(v) == 0 {
		return 0
	}
	return v[len(v)/2]
}
