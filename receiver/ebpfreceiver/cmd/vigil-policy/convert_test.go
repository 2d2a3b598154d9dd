package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const libDir = "receiver/ebpfreceiver/internal/policy/tetragon/testdata/library/"

func TestConvertToStdout(t *testing.T) {
	t.Chdir(repoRoot)
	code, out, errOut := runCmd("convert", libDir+"modules.yaml", libDir+"privileges-setuid-root.yaml")
	assert.Equal(t, 0, code, errOut)
	assert.Equal(t, `# Converted from the Tetragon TracingPolicy "kernel-module-audit".
name: kernel-module-audit
mode: monitor
rules:
  - name: security_kernel_module_request
    event: kernel.module_load
    action: post
---
# Converted from the Tetragon TracingPolicy "ids-set-to-root".
name: ids-set-to-root
mode: monitor
rules:
  - name: sys_setuid
    event: privilege.change
    action: post
`, out)
	assert.Contains(t, errOut, "note: "+libDir+"modules.yaml:11: spec.kprobes[0]: security_kernel_module_request: Vigil reports the load of the requested module (by modprobe), not the request itself\n")
	assert.Contains(t, errOut, "rateLimit ignored")
}

func TestConvertErrorsAndOutputFiles(t *testing.T) {
	t.Chdir(repoRoot)
	code, out, errOut := runCmd("convert", libDir+"egress.yaml", libDir+"modules.yaml")
	assert.Equal(t, 1, code)
	assert.True(t, strings.HasPrefix(out, "# Converted from the Tetragon TracingPolicy \"kernel-module-audit\"."), "the file that converts is written")
	assert.True(t, strings.HasPrefix(errOut, libDir+"egress.yaml:16: spec.kprobes[0].selectors[0].matchArgs[0]: operator NotDAddr is not supported"), errOut)

	code, _, errOut = runCmd("convert", "testdata/policies/ptrace.yaml")
	assert.Equal(t, 1, code)
	assert.Contains(t, errOut, "testdata/policies/ptrace.yaml: not a Tetragon TracingPolicy")

	dir := t.TempDir()
	code, out, errOut = runCmd("convert", "--skip-unsupported", "--mode", "enforce", "-o", dir, libDir+"bpf.yaml", libDir+"modules.yaml")
	assert.Equal(t, 0, code, errOut)
	assert.Empty(t, out)
	assert.Contains(t, errOut, "hook skipped: security_mmap_file is not supported")
	for _, name := range []string{"watch-bpf-activity", "kernel-module-audit"} {
		data, err := os.ReadFile(filepath.Join(dir, name+".yaml"))
		require.NoError(t, err)
		assert.Contains(t, string(data), "mode: enforce\n")
	}
	// What convert wrote, check accepts; and check loads the TracingPolicy itself.
	code, out, errOut = runCmd("check", dir, libDir+"modules.yaml")
	assert.Equal(t, 1, code, "the converted file and the original share a name")
	assert.Contains(t, out, "ok "+filepath.Join(dir, "kernel-module-audit.yaml")+" (kernel-module-audit, 1 rule)\n")
	assert.Contains(t, out, "ok "+filepath.Join(dir, "watch-bpf-activity.yaml")+" (watch-bpf-activity, 3 rules)\n")
	assert.Contains(t, errOut, libDir+"modules.yaml:6: name: duplicate policy name \"kernel-module-audit\"")

	code, _, errOut = runCmd("convert", "--mode", "audit", libDir+"modules.yaml")
	assert.Equal(t, 2, code)
	assert.Contains(t, errOut, "--mode must be monitor or enforce")
}
