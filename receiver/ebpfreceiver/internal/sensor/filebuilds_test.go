//go:build linux

package sensor

import (
	"errors"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vigilsec/vigil/internal/testenv"
)

// Both builds of the file sensor pass the verifier: the direct-load one (a
// failure there falls back silently to the dearer build) and the helper-call
// one (kernels without bpf_rdonly_cast, before 6.2), which is otherwise never
// loaded outside the kernel matrix where the direct-load build loads. On a
// kernel without the kfunc (6.1 in the matrix) the direct-load build may be
// refused for that reason only, never by the verifier.
func TestFileBuildsLoad(t *testing.T) {
	testenv.RequireRoot(t)
	p, err := LoadProcess(ProcessOptions{RingBufferSize: 1 << 16, ArgsMax: 256})
	require.NoError(t, err)
	defer func() { assert.NoError(t, p.Close()) }()
	for i, load := range []func() (*ebpf.CollectionSpec, error){loadFileFast, loadFile} {
		spec, err := load()
		var objs fileObjects
		err = loadShared(p, "file", spec, err, 0, &objs)
		if i == 0 && err != nil && errors.Is(err, ebpf.ErrNotSupported) && strings.Contains(err.Error(), `kfunc "bpf_rdonly_cast"`) {
			t.Logf("direct-load build refused by this kernel for want of bpf_rdonly_cast (it loads the helper-call build): %v", err)
			continue
		}
		require.NoError(t, err)
		assert.NoError(t, objs.Close())
	}
}

// The file sensor's programs stay well inside the verifier's budget of one
// million processed instructions. The direct-load build once sat at 96% of it,
// so that a small change pushed it over and every kernel silently ran the
// dearer helper-call build. The bound leaves room for other kernels' verifiers.
func TestFileBuildsVerifierBudget(t *testing.T) {
	testenv.RequireRoot(t)
	p, err := LoadProcess(ProcessOptions{RingBufferSize: 1 << 16, ArgsMax: 256})
	require.NoError(t, err)
	defer func() { assert.NoError(t, p.Close()) }()
	const budget = 700_000
	processed := regexp.MustCompile(`processed (\d+) insns`)
	for i, load := range []func() (*ebpf.CollectionSpec, error){loadFileFast, loadFile} {
		spec, err := load()
		require.NoError(t, err)
		repl := map[string]*ebpf.Map{}
		for n, m := range p.sharedMaps() {
			if ms, ok := spec.Maps[n]; ok {
				ms.MaxEntries = m.MaxEntries()
				repl[n] = m
			}
		}
		coll, err := ebpf.NewCollectionWithOptions(spec, ebpf.CollectionOptions{MapReplacements: repl,
			Programs: ebpf.ProgramOptions{LogLevel: ebpf.LogLevelStats}})
		if i == 0 && err != nil && errors.Is(err, ebpf.ErrNotSupported) && strings.Contains(err.Error(), `kfunc "bpf_rdonly_cast"`) {
			t.Logf("direct-load build refused by this kernel for want of bpf_rdonly_cast: %v", err)
			continue
		}
		require.NoError(t, err)
		for name, prog := range coll.Programs {
			m := processed.FindStringSubmatch(prog.VerifierLog)
			require.NotNil(t, m, "%s: no verifier statistics in %q", name, prog.VerifierLog)
			n, err := strconv.Atoi(m[1])
			require.NoError(t, err)
			t.Logf("build %d, %s: %d instructions processed", i, name, n)
			assert.Less(t, n, budget, "build %d, %s", i, name)
		}
		coll.Close()
	}
}
