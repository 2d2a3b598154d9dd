//go:build linux

package main

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"
)

// collector is a running ocb-built collector under measurement.
type collector struct {
	cmd     *exec.Cmd
	metrics string
	log     *os.File
}

func startCollector(o options, bin, config string, env ...string) (*collector, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, "--config", config)
	cmd.Env = append(append(os.Environ(), env...), "BENCH_METRICS_PORT="+port)
	logf, err := os.CreateTemp(o.workdir, "collector-*.log")
	if err != nil {
		return nil, err
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, err
	}
	c := &collector{cmd: cmd, metrics: "http://127.0.0.1:" + port + "/metrics", log: logf}
	if err := waitMetric(c.metrics, "otelcol_ebpf_process_cache_entries", 60*time.Second); err != nil {
		c.stop()
		return nil, fmt.Errorf("collector did not start: %w (log: %s)", err, logf.Name())
	}
	time.Sleep(time.Second) // policies applied, caches warm
	return c, nil
}

func (c *collector) stop() {
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	_ = c.cmd.Wait()
	c.log.Close()
}

// openLoop opens and closes path n times.
func openLoop(path string, n int) (time.Duration, error) {
	start := time.Now()
	for range n {
		fd, err := syscall.Open(path, syscall.O_RDONLY, 0)
		if err != nil {
			return 0, err
		}
		syscall.Close(fd)
	}
	return time.Since(start), nil
}

type openSample struct {
	wall, cpu                 time.Duration
	received, delivered, lost float64
	drain                     time.Duration // storm start until every event was exported or counted lost
}

func openStorm(o options, out io.Writer) error {
	storm := filepath.Join(o.workdir, "storm")
	if err := os.MkdirAll(storm, 0o755); err != nil {
		return err
	}
	target := filepath.Join(storm, "file")
	if err := os.WriteFile(target, []byte("x"), 0o644); err != nil {
		return err
	}
	// The filtered policy watches files the storm never opens; the matching one
	// watches the storm's directory, so every open is an event.
	filtered := filepath.Join(o.workdir, "policies-filtered")
	matching := filepath.Join(o.workdir, "policies-matching")
	hookOnly := filepath.Join(o.workdir, "policies-hook-only")
	for dir, body := range map[string]string{
		hookOnly: "name: other-binary\nselector:\n  binaries: [/usr/bin/vigil-none]\nrules:\n  - event: file.open\n    paths: [/etc/shadow]\n",
		filtered: "name: sensitive\nrules:\n  - event: file.open\n    paths: [/etc/shadow, /root/.ssh/]\n",
		matching: "name: storm\nrules:\n  - event: file.open\n    paths: [" + storm + "/]\n",
	} {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dir, "p.yaml"), []byte(body), 0o644); err != nil {
			return err
		}
	}
	type scenario struct {
		name      string
		policies  string
		userSpace bool
		bin       string // the collector; "" is -collector
	}
	scenarios := []scenario{
		{"policy selecting another binary (hook cost)", hookOnly, false, ""},
		{"policy, filtered in the kernel", filtered, false, ""},
		{"same policy, filtered in user space", filtered, true, ""},
		{"25-rule set, split (kernel pre-filter, rule stage)", o.rules25, false, ""},
		{"25-rule set, everything in user space", o.rules25, true, ""},
		{"default pack (rules/)", o.pack, false, ""},
		{"policy matching every open", matching, false, ""},
	}
	if o.baseline != "" {
		// The same storm on another build, side by side: before and after a change.
		scenarios = append(scenarios, scenario{"policy matching every open, baseline collector", matching, false, o.baseline})
	}
	base := make([]openSample, 0, o.rounds)
	with := make([][]openSample, len(scenarios))
	for r := 0; r < o.rounds; r++ {
		w, err := openLoop(target, o.opens)
		if err != nil {
			return err
		}
		base = append(base, openSample{wall: w})
		for i, sc := range scenarios {
			expect := 0
			if sc.policies == matching {
				expect = o.opens
			}
			bin := sc.bin
			if bin == "" {
				bin = o.bin
			}
			s, err := openWithCollector(o, bin, sc.policies, sc.userSpace, target, r, expect)
			if err != nil {
				return fmt.Errorf("%s: %w", sc.name, err)
			}
			with[i] = append(with[i], s)
		}
	}
	med := func(v []openSample, f func(openSample) float64) float64 {
		s := make([]sample, len(v))
		for i := range v {
			s[i] = sample{received: f(v[i])}
		}
		return median(s, func(x sample) float64 { return x.received })
	}
	bw := med(base, func(s openSample) float64 { return float64(s.wall) })
	fmt.Fprintf(out, "Open storm: %d x open+close of one file, %d interleaved rounds, medians\n\n", o.opens, o.rounds)
	fmt.Fprintf(out, "| scenario | storm wall time | ratio to no collector | collector CPU | events received | exported | counted lost | delivered events/s |\n")
	fmt.Fprintf(out, "|---|---|---|---|---|---|---|---|\n")
	fmt.Fprintf(out, "| no collector | %s | 1.00 | - | - | - | - | - |\n", time.Duration(bw).Round(time.Millisecond))
	for i, sc := range scenarios {
		v := with[i]
		ww := med(v, func(s openSample) float64 { return float64(s.wall) })
		cpu := med(v, func(s openSample) float64 { return float64(s.cpu) })
		rate := "-"
		if sc.policies == matching {
			rate = strconv.FormatFloat(med(v, func(s openSample) float64 { return s.delivered / s.drain.Seconds() }), 'f', 0, 64)
		}
		fmt.Fprintf(out, "| %s | %s | %.3f (%+.1f%%) | %s | %.0f | %.0f | %.0f | %s |\n", sc.name,
			time.Duration(ww).Round(time.Millisecond), ww/bw, (ww/bw-1)*100, time.Duration(cpu).Round(time.Millisecond),
			med(v, func(s openSample) float64 { return s.received }), med(v, func(s openSample) float64 { return s.delivered }),
			med(v, func(s openSample) float64 { return s.lost }), rate)
	}
	row := func(name string) (wall, cpu float64) {
		for i, sc := range scenarios {
			if sc.name == name {
				return med(with[i], func(s openSample) float64 { return float64(s.wall) }), med(with[i], func(s openSample) float64 { return float64(s.cpu) })
			}
		}
		return 0, 0
	}
	hookWall, _ := row(scenarios[0].name)
	splitWall, splitCPU := row(scenarios[3].name)
	_, userCPU := row(scenarios[4].name)
	packWall, _ := row(scenarios[5].name)
	fmt.Fprintf(out, "\n25-rule set against the hook-cost row: %+.1f points (target: within 3); default pack: %+.1f points\n",
		(splitWall-hookWall)/bw*100, (packWall-hookWall)/bw*100)
	// CPU is read in 10 ms ticks: a split row under one tick is taken as one.
	tick := float64(10 * time.Millisecond)
	ratio, bound := userCPU/max(splitCPU, tick), ""
	if splitCPU < tick {
		bound = "at least "
	}
	fmt.Fprintf(out, "25-rule set, collector CPU everything in user space / split: %s%.1fx (target: at least 3x)\n", bound, ratio)
	for i, sc := range scenarios {
		if sc.policies == matching {
			fmt.Fprintf(out, "%s: %.1f µs collector CPU per open, %.0f of %d counted lost (target: none)\n", sc.name,
				med(with[i], func(s openSample) float64 { return float64(s.cpu) })/float64(time.Microsecond)/float64(o.opens),
				med(with[i], func(s openSample) float64 { return s.lost }), o.opens)
		}
	}
	cost := []costRow{{scenarios[0].name, hookOnly, ""}, {scenarios[1].name, filtered, ""},
		{"25-rule set (split)", o.rules25, ""}, {scenarios[5].name, o.pack, ""}}
	if o.baseline != "" {
		cost = append(cost, costRow{"25-rule set, baseline collector", o.rules25, o.baseline},
			costRow{"default pack, baseline collector", o.pack, o.baseline})
	}
	if err := kernelCost(o, out, target, cost); err != nil {
		return err
	}
	// Every event of the matching storm must be delivered or counted lost.
	for i, sc := range scenarios {
		if sc.policies != matching {
			continue
		}
		for _, s := range with[i] {
			if s.delivered+s.lost < float64(o.opens) {
				return fmt.Errorf("%s: %d opens but only %.0f delivered + %.0f counted lost", sc.name, o.opens, s.delivered, s.lost)
			}
		}
	}
	return nil
}

func openWithCollector(o options, bin, policies string, userSpace bool, target string, round, expect int) (openSample, error) {
	var s openSample
	c, err := startCollector(o, bin, o.openConfig, "BENCH_POLICIES="+policies, "BENCH_USER_SPACE="+strconv.FormatBool(userSpace),
		"BENCH_OUTPUT="+filepath.Join(o.workdir, fmt.Sprintf("open-%d.json", round)))
	if err != nil {
		return s, err
	}
	defer c.stop()
	pid := c.cmd.Process.Pid
	m0, err := scrape(c.metrics)
	if err != nil {
		return s, err
	}
	cpu0, err := cpuTime(pid)
	if err != nil {
		return s, err
	}
	start := time.Now()
	if s.wall, err = openLoop(target, o.opens); err != nil {
		return s, err
	}
	// Wait until the storm's events are exported or counted lost (at most 30s);
	// when none are expected, give the collector one second to settle.
	if expect == 0 {
		time.Sleep(time.Second)
	}
	for deadline := time.Now().Add(30 * time.Second); ; {
		m1, err := scrape(c.metrics)
		if err != nil {
			return s, err
		}
		delta := func(name string) float64 {
			return m1.sumWhere(name, "policy.match") - m0.sumWhere(name, "policy.match")
		}
		s.received = delta("otelcol_ebpf_events_received")
		s.delivered = m1.sum("otelcol_exporter_sent_log_records") - m0.sum("otelcol_exporter_sent_log_records")
		s.lost = m1.sum("otelcol_ebpf_kernel_events_lost") - m0.sum("otelcol_ebpf_kernel_events_lost") +
			m1.sum("otelcol_ebpf_events_dropped") - m0.sum("otelcol_ebpf_events_dropped")
		s.drain = time.Since(start)
		if expect == 0 || s.delivered+s.lost >= float64(expect) || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	cpu1, err := cpuTime(pid)
	if err != nil {
		return s, err
	}
	s.cpu = cpu1 - cpu0
	return s, nil
}
