//go:build linux

package sensor

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vigilsec/vigil/internal/testenv"
)

// The helper-call build of the file sensor (kernels without bpf_rdonly_cast,
// before 6.2) passes the verifier here too: where the direct-load build loads,
// the fallback is otherwise never loaded outside the kernel matrix.
func TestFileHelperCallBuildLoads(t *testing.T) {
	testenv.RequireRoot(t)
	p, err := LoadProcess(ProcessOptions{RingBufferSize: 1 << 16, ArgsMax: 256})
	require.NoError(t, err)
	defer func() { assert.NoError(t, p.Close()) }()
	spec, err := loadFile()
	var objs fileObjects
	require.NoError(t, loadShared(p, "file", spec, err, 0, &objs))
	assert.NoError(t, objs.Close())
}
