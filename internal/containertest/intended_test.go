//go:build linux

package containertest

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/vigilsec/vigil/internal/testenv"
)

// classifyCase is one recorded detection and how the detection watch must classify it.
type classifyCase struct {
	name      string
	exe       string
	parent    string
	ancestors []string
	cmdline   string
	parentCmd string
	class     string // intended or false
	why       string // vigil-trigger, test-mark or -
}

// The detection watch's classification (.ci/detection-classify.jq) on records written as the
// file exporter writes them: vigil-trigger's processes and their descendants, and actions
// carrying IntendedMark, are intended; everything else, including records that only mention
// vigil-trigger or hold the mark inside another word, is a false positive; a record without a
// rule is no detection.
func TestDetectionClassify(t *testing.T) {
	jq, err := exec.LookPath("jq")
	if err != nil {
		if testenv.InCI() {
			t.Fatalf("jq is missing (Debian: apt-get install jq), and CI=true forbids skipping")
		}
		t.Skip("jq is missing (Debian: apt-get install jq)")
	}
	cases := []classifyCase{
		{name: "trigger itself", exe: "/tmp/TestX/001/vigil-trigger", parent: "/usr/bin/bash",
			cmdline: "/tmp/TestX/001/vigil-trigger --run read-shadow", class: "intended", why: "vigil-trigger"},
		{name: "trigger in a container", exe: "/opt/vigil-trigger/vigil-trigger", parent: "/usr/sbin/runc",
			cmdline: "/opt/vigil-trigger/vigil-trigger --run release-agent-container", class: "intended", why: "vigil-trigger"},
		{name: "helper copy", exe: "/run/vigil-trigger-123/nc", parent: "/opt/vigil-trigger/vigil-trigger",
			cmdline: "nc -e /bin/true 127.0.0.1 9", class: "intended", why: "vigil-trigger"},
		{name: "shell under a helper", exe: "/bin/busybox", parent: "/run/vigil-trigger-123/worker",
			cmdline: "sh -c exit 0", class: "intended", why: "vigil-trigger"},
		{name: "grandchild", exe: "/usr/bin/true", parent: "/usr/bin/dash",
			ancestors: []string{"/usr/bin/dash", "/run/vigil-trigger-9/nginx", "/usr/bin/vigil-trigger"},
			cmdline:   "/usr/bin/true", class: "intended", why: "vigil-trigger"},
		{name: "marked terminal shell", exe: "/bin/busybox", parent: "/usr/sbin/runc",
			cmdline: "/bin/sh -c true " + Intended("0a1b2c3d"), class: "intended", why: "test-mark"},
		{name: "marked debugfs", exe: "/tmp/debugfs", parent: "/usr/sbin/runc",
			cmdline: "/tmp/debugfs -R stats " + Intended("0a1b2c3d") + "-p", class: "intended", why: "test-mark"},
		{name: "child of a marked shell", exe: "/bin/busybox", parent: "/bin/busybox",
			cmdline: "sleep 0.2", parentCmd: "/bin/sh -c sleep 0.2; " + IntendedMark, class: "intended", why: "test-mark"},
		{name: "names vigil-trigger only", exe: "/usr/bin/grep", parent: "/usr/bin/bash",
			cmdline: "grep -r vigil-trigger /etc/shadow", class: "false", why: "-"},
		{name: "look-alike path", exe: "/usr/local/bin/vigil-triggered", parent: "/usr/bin/bash",
			cmdline: "/usr/local/bin/vigil-triggered", class: "false", why: "-"},
		{name: "mark inside a word", exe: "/bin/busybox", parent: "/usr/sbin/runc",
			cmdline: "/bin/sh -c true x" + IntendedMark, class: "false", why: "-"},
		{name: "mark on the grandparent only", exe: "/bin/busybox", parent: "/bin/busybox",
			cmdline: "sleep 1", parentCmd: "sh -c sleep 1", class: "false", why: "-"},
		{name: "unmarked container shell", exe: "/bin/busybox", parent: "/usr/bin/containerd-shim-runc-v2",
			cmdline: "/bin/sh -c sleep 60; true u0a1b2c3d", class: "false", why: "-"},
	}
	const rule = "Some rule"
	var file bytes.Buffer
	var want []string
	m := &plog.JSONMarshaler{}
	for i, c := range cases {
		ld := plog.NewLogs()
		rl := ld.ResourceLogs().AppendEmpty()
		rl.Resource().Attributes().PutStr("container.id", "0123456789ab")
		lrs := rl.ScopeLogs().AppendEmpty().LogRecords()
		lr := lrs.AppendEmpty()
		a := lr.Attributes()
		a.PutStr("security_rule.name", rule)
		a.PutStr("process.executable.path", c.exe)
		a.PutStr("vigil.parent.executable.path", c.parent)
		a.PutStr("process.command_line", c.cmdline)
		if c.parentCmd != "" {
			a.PutStr("vigil.parent.command_line", c.parentCmd)
		}
		if c.ancestors != nil {
			s := a.PutEmptySlice("vigil.ancestors.executable.path")
			for _, p := range c.ancestors {
				s.AppendEmpty().SetStr(p)
			}
		}
		if i == 0 {
			// A record without a rule in the same request: not a detection.
			plain := lrs.AppendEmpty()
			plain.Attributes().PutStr("process.executable.path", "/usr/bin/true")
		}
		b, err := m.MarshalLogs(ld)
		require.NoError(t, err)
		file.Write(b)
		file.WriteByte('\n')
		want = append(want, strings.Join([]string{c.class, c.why, rule, c.exe, c.parent, c.cmdline}, "\t"))
	}
	path := filepath.Join(t.TempDir(), "detections.json")
	require.NoError(t, os.WriteFile(path, file.Bytes(), 0o600))
	out, err := exec.Command(jq, "-r", "-f", "../../.ci/detection-classify.jq", path).CombinedOutput()
	require.NoError(t, err, string(out))
	got := strings.Split(strings.TrimRight(string(out), "\n"), "\n")
	require.Len(t, got, len(cases), string(out))
	for i, c := range cases {
		assert.Equal(t, want[i], got[i], c.name)
	}
}
