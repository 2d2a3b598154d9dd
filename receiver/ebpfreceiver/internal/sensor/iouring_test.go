//go:build linux

package sensor

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vigilsec/vigil/internal/testenv"
)

func requireIOUring(t *testing.T) {
	t.Helper()
	if _, err := os.Stat("/sys/kernel/tracing/events/io_uring/io_uring_complete"); err != nil && !testenv.InCI() {
		t.Skip("this kernel has no io_uring tracepoints")
	}
}

// IORING_OP_OPENAT opens a file with no open syscall: on the syscall hooks its
// completion is decided like an open (the kill rule kills the helper), flagged
// FLAG_IO_URING; another file and an unselected binary are not reported.
func ioUringOpenat(t *testing.T, r *policyRig, helper string) {
	requireIOUring(t)
	dir := t.TempDir()
	watched := filepath.Join(dir, "watched")
	other := filepath.Join(dir, "other")
	for _, p := range []string{watched, other} {
		require.NoError(t, os.WriteFile(p, []byte("s"), 0o600))
	}
	r.apply(t, fmt.Sprintf(`name: uring-open
mode: enforce
selector:
  binaries: [%s]
rules:
  - name: kill-open
    event: file.open
    paths: [%s]
    action: kill
`, helper, watched))
	assert.Equal(t, "ok", testenv.RunHelper(t, os.Args[0], "iouring-openat:"+watched), "unselected")
	assert.Equal(t, "ok", testenv.RunHelper(t, helper, "iouring-openat:"+other), "another file")
	assert.Equal(t, "killed: killed", testenv.RunHelper(t, helper, "iouring-openat:"+watched))
	got := r.alerts(t, time.Second, func(a *Alert) bool { return a.Kind == KindFile })
	require.Len(t, got, 1)
	assert.Equal(t, watched, got[0].Path)
	assert.Equal(t, FlagIOUring, got[0].Flags&FlagIOUring)
	assert.True(t, got[0].Applied)
	assert.Equal(t, actKill, got[0].Action)
}

// IORING_OP_ACCEPT is reported as network.accept with the peer, flagged
// FLAG_IO_URING, for the selected helper only.
func ioUringAccept(t *testing.T, r *policyRig, helper string) {
	requireIOUring(t)
	r.apply(t, fmt.Sprintf(`name: uring-accept
selector:
  binaries: [%s]
rules:
  - name: accept
    event: network.accept
    cidrs: [127.0.0.0/8]
`, helper))
	assert.Equal(t, "ok", testenv.RunHelper(t, os.Args[0], "iouring-accept"), "unselected")
	assert.Equal(t, "ok", testenv.RunHelper(t, helper, "iouring-accept"))
	got := r.alerts(t, time.Second, func(a *Alert) bool { return a.Kind == KindNet })
	require.Len(t, got, 1)
	assert.Equal(t, uint8(processVigilEventEV_NET_ACCEPT), got[0].Event)
	assert.Equal(t, FlagIOUring, got[0].Flags&FlagIOUring)
	assert.True(t, got[0].Peer.Addr().IsLoopback(), "%v", got[0].Peer)
	assert.NotEqual(t, uint32(os.Getpid()), got[0].TGID)
}
