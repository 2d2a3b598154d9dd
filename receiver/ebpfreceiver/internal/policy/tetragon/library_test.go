package tetragon_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vigilsec/vigil/receiver/ebpfreceiver/internal/policy"
	"github.com/vigilsec/vigil/receiver/ebpfreceiver/internal/policy/tetragon"
)

// libraryCase is one entry of Tetragon's policy library (examples/policylibrary),
// expressed by a test file of ours with the same shape: what it converts to, or
// why it does not, strictly and with --skip-unsupported.
type libraryCase struct {
	file string
	// want is the Vigil policy it converts to; "" when it does not.
	want string
	// errs are the errors when it does not, without the file name.
	errs []string
	// skipWant is the policy with SkipUnsupported ("" when even that fails);
	// skipErrs the errors then.
	skipWant string
	skipErrs []string
}

var library = []libraryCase{
	{
		file: "bpf.yaml",
		errs: []string{
			"14: spec.kprobes[1]: security_perf_event_alloc is not supported: it maps onto no Vigil event",
			"19: spec.kprobes[2]: security_bpf_map_create is not supported: it maps onto no Vigil event",
			"52: spec.kprobes[4]: security_mmap_file is not supported: it maps onto no Vigil event",
		},
		skipWant: `name: watch-bpf-activity
mode: monitor
rules:
  - name: bpf_check
    event: bpf.load
  - name: security_file_permission-0
    event: file.open
    paths: [/sys/fs/bpf, /sys/fs/bpf/]
    access: [read]
  - name: security_file_permission-1
    event: file.write
    paths: [/sys/fs/bpf, /sys/fs/bpf/]
`,
	},
	{
		file: "egress.yaml",
		errs: []string{
			"16: spec.kprobes[0].selectors[0].matchArgs[0]: operator NotDAddr is not supported on tcp_connect: network.connect filters the peer address (DAddr) and port (DPort)",
		},
		skipErrs: []string{"8: spec: no hook converted"},
	},
	{
		file:     "library.yaml",
		errs:     []string{"11: spec.loader: loader is not supported"},
		skipErrs: []string{"11: spec.loader: loader is not supported"},
	},
	{
		file: "modules.yaml",
		want: `name: kernel-module-audit
rules:
  - name: security_kernel_module_request
    event: kernel.module_load
`,
	},
	{
		file: "privileges-raise.yaml",
		errs: []string{"43: spec.kprobes[1].selectors[0].matchCapabilities: matchCapabilities is not supported"},
		skipWant: `name: privilege-gains
rules:
  - name: security_capset-0
    event: privilege.change
`,
	},
	{
		file: "privileges-setuid-root.yaml",
		want: `name: ids-set-to-root
rules:
  - name: sys_setuid
    event: privilege.change
`,
	},
	{
		file: "sshd.yaml",
		errs: []string{
			"9: spec.kprobes[0]: sk_alloc is not supported: it maps onto no Vigil event",
			"19: spec.kprobes[0].returnArgAction: returnArgAction is not supported",
			"28: spec.kprobes[1]: tcp_set_state is not supported: it maps onto no Vigil event",
			"43: spec.kprobes[2]: tcp_close is not supported: it maps onto no Vigil event",
		},
		skipErrs: []string{"8: spec: no hook converted"},
	},
}

// Every test file of the library converts to its expected policy through the
// receiver's own loader (direct load), and vigil-policy convert's output parses
// to the same policy; or both fail with the exact reasons.
func TestPolicyLibrary(t *testing.T) {
	files, err := filepath.Glob("testdata/library/*.yaml")
	require.NoError(t, err)
	require.Len(t, files, len(library), "one case per library file")
	for _, tc := range library {
		t.Run(tc.file, func(t *testing.T) {
			path := filepath.Join("testdata", "library", tc.file)
			data, err := os.ReadFile(path)
			require.NoError(t, err)
			require.True(t, tetragon.IsTracingPolicy(data))

			set := policy.Load([]string{path}, policy.TypicalCapabilities())
			require.Len(t, set.Files, 1)
			checkOutcome(t, path, tc.want, tc.errs, set.Files[0].Policy, set.Files[0].Err)
			if tc.want != "" {
				res, err := tetragon.Convert(path, data, tetragon.Options{})
				require.NoError(t, err)
				p, err := policy.ParseBytes(path, res.YAML)
				require.NoError(t, err, "convert's output loads as a policy file")
				assert.Equal(t, set.Files[0].Policy.Rules, p.Rules)
				assert.Equal(t, set.Files[0].Policy.Name, p.Name)
			}

			want, errs := tc.skipWant, tc.skipErrs
			if want == "" && errs == nil {
				want = tc.want
			}
			p, _, err := policy.ParseTracingPolicy(path, data, tetragon.Options{SkipUnsupported: true})
			checkOutcome(t, path, want, errs, p, err)
		})
	}
}

func checkOutcome(t *testing.T, path, want string, errs []string, got *policy.Policy, err error) {
	t.Helper()
	if want == "" {
		require.Error(t, err)
		require.Nil(t, got)
		var lines []string
		for _, e := range errs {
			lines = append(lines, path+":"+e)
		}
		assert.Equal(t, strings.Join(lines, "\n"), err.Error())
		return
	}
	require.NoError(t, err)
	exp, err := policy.ParseBytes("expected", []byte(want))
	require.NoError(t, err)
	assert.Equal(t, exp.Name, got.Name)
	assert.Equal(t, exp.Mode, got.Mode)
	assert.Equal(t, exp.Selector, got.Selector)
	assert.Equal(t, exp.Rules, got.Rules)
}

// docs/tetragon.md has one row per library entry, and says what the table above
// says about whether it converts, strictly and with --skip-unsupported.
func TestPolicyLibraryDoc(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join("..", "..", "..", "..", "..", "docs", "tetragon.md"))
	require.NoError(t, err)
	rows := map[string][]string{}
	for _, l := range strings.Split(string(doc), "\n") {
		cells := strings.Split(l, " | ")
		if len(cells) == 4 && strings.HasPrefix(l, "| `") {
			file := strings.Trim(cells[0], "| `")
			rows[filepath.Base(file)] = cells
		}
	}
	for _, tc := range library {
		cells, ok := rows[tc.file]
		if !assert.True(t, ok, "no row for %s", tc.file) {
			continue
		}
		converts := "no"
		if tc.want != "" {
			converts = "yes"
		}
		assert.Equal(t, converts, cells[1], tc.file)
		skip := strings.TrimSuffix(cells[3], " |")
		switch {
		case tc.want != "":
			assert.Equal(t, "—", skip, tc.file)
		case tc.skipWant == "":
			assert.Contains(t, []string{"no hook converts", "same"}, skip, tc.file)
		default:
			assert.NotContains(t, []string{"no hook converts", "same", "—"}, skip, tc.file)
		}
	}
	assert.Len(t, rows, len(library))
}

// LoadFile converts a TracingPolicy as the loader does.
func TestLoadFileConverts(t *testing.T) {
	p, err := policy.LoadFile(filepath.Join("testdata", "library", "modules.yaml"))
	require.NoError(t, err)
	assert.Equal(t, "kernel-module-audit", p.Name)
	_, err = policy.LoadFile(filepath.Join("testdata", "library", "sshd.yaml"))
	require.ErrorContains(t, err, "sk_alloc is not supported")
}
