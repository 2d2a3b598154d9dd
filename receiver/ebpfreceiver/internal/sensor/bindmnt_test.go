//go:build linux

package sensor

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vigilsec/vigil/internal/mountinfo"
	"github.com/vigilsec/vigil/internal/testenv"
	"github.com/vigilsec/vigil/receiver/ebpfreceiver/internal/policy"
)

// bindTree is a test's own directories for bind mounts: watched (a prefix rule
// names it, with a file secret), plain (no rule names it, with a file note), and
// empty mount points. The helper mounts in a private mount namespace of its own:
// the host's mounts are never touched, and the mounts end with the helper.
type bindTree struct {
	watched, plain, over, over2, scratch string
	secret, note                         string
}

func newBindTree(t *testing.T) bindTree {
	t.Helper()
	dir := t.TempDir()
	// Readable by the user namespace's unprivileged user (65534).
	for p := dir; p != "/" && p != filepath.Dir(p); p = filepath.Dir(p) {
		if st, err := os.Stat(p); err == nil && st.Mode().Perm()&0o005 != 0o005 {
			require.NoError(t, os.Chmod(p, st.Mode().Perm()|0o005))
		}
	}
	b := bindTree{watched: filepath.Join(dir, "watched"), plain: filepath.Join(dir, "plain"),
		over: filepath.Join(dir, "over"), over2: filepath.Join(dir, "over2"), scratch: filepath.Join(dir, "scratch")}
	for _, d := range []string{b.watched, b.plain, b.over, b.over2, b.scratch} {
		require.NoError(t, os.Mkdir(d, 0o755))
	}
	b.secret = filepath.Join(b.watched, "secret")
	b.note = filepath.Join(b.plain, "note")
	require.NoError(t, os.WriteFile(b.secret, []byte("s"), 0o644))
	require.NoError(t, os.WriteFile(b.note, []byte("n"), 0o644))
	return b
}

func (b bindTree) policy(action string) string {
	mode := ""
	if action != "" {
		mode = "mode: enforce\n"
		action = "\n    action: " + action
	}
	return "name: bind-mounts\n" + mode + "rules:\n  - name: watched-dir\n    event: file.open\n    paths: [" + b.watched + "/]" + action + "\n"
}

// A bind mount of a watched directory cannot hide its files: an open under the
// mount's path is matched by the file's canonical path (where its file system's
// root is mounted in the host's namespace, then its path from that root) and
// reported with both paths; a bind mount of a single file under the watched
// directory the same. An open through a bind mount of a directory no rule
// names is not reported. A file system mounted nowhere in the host's namespace
// (a tmpfs of the helper's own namespace) cannot be named: an open through a
// subtree mount of it is reported as unresolved, matched by the prefix rule.
func TestFileOpenBindMountDir(t *testing.T) {
	r := newPolicyRig(t)
	b := newBindTree(t)
	st, err := r.pol.RefreshMounts(r.proc)
	require.NoError(t, err)
	require.NotZero(t, st.Roots, "the host's file systems are named")
	r.apply(t, b.policy(""))
	bin := testenv.CopyTestBinary(t, "")

	secretThrough := filepath.Join(b.over, "secret")
	require.Equal(t, "ok", testenv.RunHelper(t, bin, testenv.BindOpen(secretThrough, b.watched+"="+b.over)))
	fileBind := filepath.Join(b.scratch, "file")
	require.NoError(t, os.WriteFile(fileBind, nil, 0o644))
	require.Equal(t, "ok", testenv.RunHelper(t, bin, testenv.BindOpen(fileBind, b.secret+"="+fileBind)))
	noteThrough := filepath.Join(b.over2, "note")
	require.Equal(t, "ok", testenv.RunHelper(t, bin, testenv.BindOpen(noteThrough, b.plain+"="+b.over2)))
	unnamed := filepath.Join(b.over2, "f")
	require.Equal(t, "ok", testenv.RunHelper(t, bin, testenv.BindOpen(unnamed, "tmpfs="+b.over, b.over+"/d="+b.over2)))
	readFile(t, b.secret) // the watched file by its own path: no subtree mount
	readFile(t, b.note)

	got := r.alerts(t, time.Second, func(a *Alert) bool {
		return a.Kind == KindFile && (strings.HasPrefix(a.Path, filepath.Dir(b.watched)) || a.Path == fileBind)
	})
	byPath := map[string]Alert{}
	for _, a := range got {
		byPath[a.Path] = a
	}
	require.Len(t, got, 4, "through the directory's bind mount, the file's bind mount, the unresolved tmpfs subtree, the file itself: %v", got)
	for _, p := range []string{secretThrough, fileBind} {
		a, ok := byPath[p]
		require.True(t, ok, "the open of %s is reported", p)
		assert.Equal(t, FlagSubtreeMount, a.Flags&FlagSubtreeMount, p)
		assert.Equal(t, b.secret, a.Canonical, "%s: the canonical path is the watched file's", p)
		assert.Zero(t, a.Flags&(FlagTruncPath|FlagIDMatch), "matched by its canonical path, not fail-closed nor by identity")
	}
	a, ok := byPath[unnamed]
	require.True(t, ok, "an open through a subtree mount of a file system the host does not mount is reported")
	assert.Equal(t, FlagSubtreeMount, a.Flags&FlagSubtreeMount)
	assert.Empty(t, a.Canonical, "unresolved: no canonical path")
	direct, ok := byPath[b.secret]
	require.True(t, ok)
	assert.Zero(t, direct.Flags&FlagSubtreeMount, "the file by its own path crosses no subtree mount")
	assert.Empty(t, direct.Canonical)
	_, ok = byPath[noteThrough]
	assert.False(t, ok, "an unwatched file through a bind mount of an unwatched directory is not reported")
	_, ok = byPath[b.note]
	assert.False(t, ok)
}

// A rule's name filters are tested on each path's own name: a file of the
// watched directory bind-mounted under another name is matched by its
// canonical path and name (a.conf onto x), and not by one path's directory
// with the other path's name (b.txt onto y.conf: the opened name ends in
// .conf but its directory is not watched, the canonical path is watched but
// its name does not). Through a bind mount of the directory both paths end in
// the file's own name.
func TestFileOpenBindMountNames(t *testing.T) {
	r := newPolicyRig(t)
	b := newBindTree(t)
	_, err := r.pol.RefreshMounts(r.proc)
	require.NoError(t, err)
	conf, txt := filepath.Join(b.watched, "a.conf"), filepath.Join(b.watched, "b.txt")
	for _, p := range []string{conf, txt} {
		require.NoError(t, os.WriteFile(p, []byte("c"), 0o644))
	}
	x, yconf := filepath.Join(b.scratch, "x"), filepath.Join(b.scratch, "y.conf")
	for _, p := range []string{x, yconf} {
		require.NoError(t, os.WriteFile(p, nil, 0o644))
	}
	// The files are made before the policy: their creation is no open of interest.
	r.apply(t, "name: bind-names\nrules:\n  - name: watched-conf\n    event: file.open\n    paths: ["+b.watched+"/]\n    name_suffixes: [.conf]\n")
	bin := testenv.CopyTestBinary(t, "")
	require.Equal(t, "ok", testenv.RunHelper(t, bin, testenv.BindOpen(x, conf+"="+x)))
	require.Equal(t, "ok", testenv.RunHelper(t, bin, testenv.BindOpen(yconf, txt+"="+yconf)))
	confThrough, txtThrough := filepath.Join(b.over, "a.conf"), filepath.Join(b.over, "b.txt")
	require.Equal(t, "ok", testenv.RunHelper(t, bin, testenv.BindOpen(confThrough, b.watched+"="+b.over)))
	require.Equal(t, "ok", testenv.RunHelper(t, bin, testenv.BindOpen(txtThrough, b.watched+"="+b.over)))

	got := r.alerts(t, time.Second, func(a *Alert) bool {
		return a.Kind == KindFile && strings.HasPrefix(a.Path, filepath.Dir(b.watched))
	})
	byPath := map[string]Alert{}
	for _, a := range got {
		byPath[a.Path] = a
	}
	for p, canon := range map[string]string{x: conf, confThrough: conf} {
		a, ok := byPath[p]
		require.True(t, ok, "the open of %s is reported: %v", p, got)
		assert.Equal(t, canon, a.Canonical, p)
		assert.Equal(t, FlagSubtreeMount, a.Flags&FlagSubtreeMount, p)
	}
	for _, p := range []string{yconf, txtThrough} {
		assert.NotContains(t, byPath, p, "no path of it has both the watched directory and the name")
	}
	assert.Len(t, got, 2, "%v", got)
}

// A kill rule on the watched directory kills the process that opens one of
// its files through a bind mount (the syscall hook: the open itself has
// happened, the process does not live to read it).
func TestFileOpenBindMountDirKill(t *testing.T) {
	r := newPolicyRig(t)
	b := newBindTree(t)
	r.apply(t, b.policy("kill"))
	bin := testenv.CopyTestBinary(t, "")
	secretThrough := filepath.Join(b.over, "secret")
	assert.Equal(t, "killed: killed", testenv.RunHelper(t, bin, testenv.BindOpen(secretThrough, b.watched+"="+b.over)))
	assert.Equal(t, "ok", testenv.RunHelper(t, bin, testenv.BindOpen(filepath.Join(b.over2, "note"), b.plain+"="+b.over2)),
		"an unwatched bind mount is left alone")
	got := r.alerts(t, time.Second, func(a *Alert) bool { return a.Kind == KindFile && a.Path == secretThrough })
	require.Len(t, got, 1)
	assert.True(t, got[0].Applied)
	assert.Equal(t, actKill, got[0].Action)
	assert.Equal(t, b.secret, got[0].Canonical)
}

// The same in a user namespace (unshare -Urm as an unprivileged user, then
// mount --bind): the mount is the user's own, the file the same.
func TestFileOpenBindMountDirInUserNamespace(t *testing.T) {
	r := newPolicyRig(t)
	b := newBindTree(t)
	r.apply(t, b.policy(""))
	bin := testenv.CopyTestBinary(t, "")
	require.NoError(t, os.Chmod(filepath.Dir(bin), 0o755))
	secretThrough := filepath.Join(b.over, "secret")
	out := testenv.RunHelper(t, bin, testenv.UsernsBindOpen(secretThrough, b.watched+"="+b.over))
	if out != "ok" {
		// Hosts may refuse unprivileged user namespaces (user.max_user_namespaces=0,
		// kernel.unprivileged_userns_clone=0, an LSM policy): nothing to test there.
		if testenv.InCI() {
			t.Fatalf("a bind mount in a user namespace: %s", out)
		}
		t.Skipf("this host refuses a bind mount in an unprivileged user namespace: %s", out)
	}
	require.Equal(t, "ok", testenv.RunHelper(t, bin, testenv.UsernsBindOpen(filepath.Join(b.over2, "note"), b.plain+"="+b.over2)))
	got := r.alerts(t, time.Second, func(a *Alert) bool { return a.Kind == KindFile && strings.HasPrefix(a.Path, filepath.Dir(b.watched)) })
	require.Len(t, got, 1, "the watched file through the user's bind mount; not the unwatched one: %v", got)
	assert.Equal(t, secretThrough, got[0].Path)
	assert.Equal(t, b.secret, got[0].Canonical)
	assert.Equal(t, FlagSubtreeMount, got[0].Flags&FlagSubtreeMount)
	assert.Equal(t, uint32(65534), got[0].UID, "the unprivileged user")
}

// The BPF LSM file_open hook (and its fmod_ret build) decides the same way, and
// a deny rule refuses the open through the bind mount. This host refuses LSM
// programs; the kernel matrix runs this.
func TestFileOpenBindMountDirLSM(t *testing.T) { inSecurityBuilds(t, fileOpenBindMountDirLSM) }

func fileOpenBindMountDirLSM(t *testing.T, hooks Hooks) {
	testenv.RequireRoot(t)
	if os.Getenv("VIGIL_VM_KERNEL") == "" {
		t.Skip("BPF LSM is refused on this host: runs in the kernel matrix (make test-vm)")
	}
	r := newPolicyRigHooks(t, hooks)
	require.True(t, r.pol.HasLSM())
	b := newBindTree(t)
	r.applyCaps(t, policy.Capabilities{LSM: true, CgroupSockAddr: true, SendSignal: true}, b.policy("deny"))
	bin := testenv.CopyTestBinary(t, "")
	secretThrough := filepath.Join(b.over, "secret")
	assert.Equal(t, "1", testenv.RunHelper(t, bin, testenv.BindOpen(secretThrough, b.watched+"="+b.over)), "EPERM through the bind mount")
	assert.Equal(t, "ok", testenv.RunHelper(t, bin, testenv.BindOpen(filepath.Join(b.over2, "note"), b.plain+"="+b.over2)))
	got := r.alerts(t, time.Second, func(a *Alert) bool { return a.Kind == KindFile && strings.HasPrefix(a.Path, filepath.Dir(b.watched)) })
	require.Len(t, got, 1)
	assert.Equal(t, secretThrough, got[0].Path)
	assert.Equal(t, b.secret, got[0].Canonical)
	assert.True(t, got[0].Applied)
	assert.Equal(t, r.hookFlag(), got[0].Flags&(FlagLSM|FlagFmodRet))
	assert.Equal(t, FlagSubtreeMount, got[0].Flags&FlagSubtreeMount)
}

// The canonical mounts of a mount table: the first whole mount of each device
// names it; subtree mounts of a device mounted whole somewhere are never
// exempt; of one mounted whole nowhere (btrfs subvolumes), those not inside
// another are.
func TestCanonicalFrom(t *testing.T) {
	c := CanonicalFrom([]mountinfo.Mount{
		{ID: 1, Major: 8, Minor: 1, Root: "/", MountPoint: "/"},
		{ID: 2, Major: 8, Minor: 1, Root: "/", MountPoint: "/mnt/again"},
		{ID: 3, Major: 8, Minor: 1, Root: "/etc", MountPoint: "/tmp/x"},
		{ID: 4, Major: 0, Minor: 40, Root: "/@", MountPoint: "/srv"},
		{ID: 5, Major: 0, Minor: 40, Root: "/@home", MountPoint: "/home"},
		{ID: 6, Major: 0, Minor: 40, Root: "/@/etc", MountPoint: "/tmp/y"},
		{ID: 7, Major: 0, Minor: 40, Root: "/@", MountPoint: "/tmp/z"},
	})
	assert.Equal(t, map[uint32]string{8<<20 | 1: "/"}, c.Roots)
	assert.Equal(t, map[uint32]bool{4: true, 5: true}, c.Exempt)
}
