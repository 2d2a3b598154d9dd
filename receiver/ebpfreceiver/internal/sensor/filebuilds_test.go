//go:build linux

package sensor

import (
	"testing"

	"github.com/cilium/ebpf"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vigilsec/vigil/internal/testenv"
)

// Both builds of the file sensor pass the verifier: the direct-load one (a
// failure there falls back silently to the dearer build) and the helper-call
// one (kernels without bpf_rdonly_cast, before 6.2), which is otherwise never
// loaded outside the kernel matrix where the direct-load build loads.
func TestFileBuildsLoad(t *testing.T) {
	testenv.RequireRoot(t)
	p, err := LoadProcess(ProcessOptions{RingBufferSize: 1 << 16, ArgsMax: 256})
	require.NoError(t, err)
	defer func() { assert.NoError(t, p.Close()) }()
	for _, load := range []func() (*ebpf.CollectionSpec, error){loadFileFast, loadFile} {
		spec, err := load()
		var objs fileObjects
		require.NoError(t, loadShared(p, "file", spec, err, 0, &objs))
		assert.NoError(t, objs.Close())
	}
}
