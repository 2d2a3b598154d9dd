//go:build linux

package sensor

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/vigilsec/vigil/internal/testenv"
)

// mine keeps the file alerts of this test process.
func mine(a *Alert) bool { return a.Kind == KindFile && a.TGID == uint32(os.Getpid()) }

// readFile opens a path read-only and closes it.
func readFile(t *testing.T, path string) {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err, path)
	require.NoError(t, f.Close())
}

// otherTopDir makes a directory on the root file system outside /tmp (another
// top-level directory than the test's temp dir, so the top-directory
// pre-filter does not let it through), removed at the end.
func otherTopDir(t *testing.T) string {
	t.Helper()
	// The kernel-matrix guests' bare initramfs has no /var/tmp: make it there.
	require.NoError(t, os.MkdirAll("/var/tmp", 0o1777))
	d, err := os.MkdirTemp("/var/tmp", "vigil-fileid-")
	require.NoError(t, err)
	t.Cleanup(func() { _ = os.RemoveAll(d) })
	return d
}

// sameFSDir is a directory for the watched file, in another top-level directory
// than other but on its file system (a hard link needs one): the test's temp dir,
// or, where /tmp is a file system of its own (the kernel-matrix guests), a
// directory made under the root, removed at the end.
func sameFSDir(t *testing.T, other string) string {
	t.Helper()
	dir := t.TempDir()
	var a, b unix.Stat_t
	require.NoError(t, unix.Stat(dir, &a))
	require.NoError(t, unix.Stat(other, &b))
	if a.Dev == b.Dev {
		return dir
	}
	d, err := os.MkdirTemp("/", "vigil-fileid-")
	require.NoError(t, err)
	t.Cleanup(func() { _ = os.RemoveAll(d) })
	return d
}

// An exact rule file opened through a hard link or a bind mount elsewhere (a
// directory no rule names) is the same inode: matched by identity, reported
// with the path opened, FlagIDMatch and the identity that names the policy
// path. A copy (another inode) and another file next to the link are not.
func TestFileOpenIdentityHardLinkBindMount(t *testing.T) {
	r := newPolicyRig(t)
	elsewhere := otherTopDir(t)
	watched := filepath.Join(sameFSDir(t, elsewhere), "secret")
	require.NoError(t, os.WriteFile(watched, []byte("s"), 0o600))
	link := filepath.Join(elsewhere, "link")
	if err := os.Link(watched, link); err != nil {
		t.Fatalf("hard link across %s and %s (the test needs one file system): %v", watched, link, err)
	}
	bind := filepath.Join(elsewhere, "bind")
	require.NoError(t, os.WriteFile(bind, nil, 0o600))
	require.NoError(t, unix.Mount(watched, bind, "", unix.MS_BIND, ""))
	t.Cleanup(func() { _ = unix.Unmount(bind, unix.MNT_DETACH) })
	cp := filepath.Join(elsewhere, "copy")
	require.NoError(t, os.WriteFile(cp, []byte("s"), 0o600))
	noise := filepath.Join(elsewhere, "noise")
	require.NoError(t, os.WriteFile(noise, []byte("n"), 0o600))

	c := r.apply(t, fmt.Sprintf(`name: identity
rules:
  - name: secret
    event: file.open
    paths: [%s]
`, watched))
	readFile(t, watched)
	readFile(t, link)
	readFile(t, bind)
	readFile(t, cp)
	readFile(t, noise)
	got := r.alerts(t, time.Second, mine)
	require.Len(t, got, 3, "the file, its hard link and its bind mount; not the copy nor the noise")
	st, err := os.Stat(watched)
	require.NoError(t, err)
	want := FileID{Dev: kernelDev(st.Sys().(*syscall.Stat_t).Dev), Ino: st.Sys().(*syscall.Stat_t).Ino}
	for i, path := range []string{watched, link, bind} {
		a := got[i]
		assert.Equal(t, path, a.Path, "reported with the path opened")
		assert.Equal(t, want, FileID{Dev: a.Dev, Ino: a.Ino}, "the record carries the identity")
		assert.Equal(t, []string{watched}, c.Rules.IdentityPaths(FileID{Dev: a.Dev, Ino: a.Ino}), "the policy path matched")
		ref, ok := c.Rules.Strongest(KindFile, a.Rules)
		require.True(t, ok)
		assert.Equal(t, "secret", ref.Rule)
	}
	assert.Zero(t, got[0].Flags&FlagIDMatch, "the path itself matched by path")
	assert.Equal(t, FlagIDMatch, got[1].Flags&FlagIDMatch)
	// The bind mount shows a subtree of the file system (one file): matched by
	// its canonical path, the rule's own path, before identity is needed.
	assert.Zero(t, got[2].Flags&FlagIDMatch, "the bind mount matched by its canonical path")
	assert.Equal(t, FlagSubtreeMount, got[2].Flags&FlagSubtreeMount)
	assert.Equal(t, watched, got[2].Canonical)

	// The file replaced (a new inode at the path, as an editor or a package
	// upgrade does): the path still matches; the old inode, still reachable
	// through the link, is matched until the next apply resolves the path anew.
	require.NoError(t, unix.Unmount(bind, unix.MNT_DETACH))
	tmp := watched + ".new"
	require.NoError(t, os.WriteFile(tmp, []byte("t"), 0o600))
	require.NoError(t, os.Rename(tmp, watched))
	newLink := filepath.Join(elsewhere, "newlink")
	require.NoError(t, os.Link(watched, newLink))
	readFile(t, watched)
	readFile(t, newLink)
	readFile(t, link)
	got = r.alerts(t, time.Second, mine)
	require.Len(t, got, 2, "the new file by path, the old inode through its link; the new inode's link not before the apply")
	assert.Equal(t, watched, got[0].Path)
	assert.Equal(t, link, got[1].Path)
	r.apply(t, fmt.Sprintf(`name: identity
rules:
  - name: secret
    event: file.open
    paths: [%s]
`, watched))
	readFile(t, newLink)
	readFile(t, link)
	got = r.alerts(t, time.Second, mine)
	require.Len(t, got, 1, "after the apply: the new inode's link, and no longer the old inode")
	assert.Equal(t, newLink, got[0].Path)
	assert.Equal(t, FlagIDMatch, got[0].Flags&FlagIDMatch)
}

// open_by_handle_at opens a file with no path: reported (resolved from the new
// descriptor) and matched by identity and path; creat(2) is reported with the
// flags it implies (O_WRONLY|O_CREAT|O_TRUNC).
func TestFileOpenByHandleAndCreat(t *testing.T) {
	r := newPolicyRig(t)
	dir := t.TempDir()
	watched := filepath.Join(dir, "watched")
	require.NoError(t, os.WriteFile(watched, []byte("s"), 0o600))
	created := filepath.Join(dir, "created")
	other := filepath.Join(dir, "other")
	require.NoError(t, os.WriteFile(other, []byte("o"), 0o600))
	r.apply(t, fmt.Sprintf(`name: handles
rules:
  - name: handle
    event: file.open
    paths: [%s, %s]
`, watched, created))
	openByHandle := func(path string) {
		h, _, err := unix.NameToHandleAt(unix.AT_FDCWD, path, 0)
		require.NoError(t, err)
		mfd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY, 0)
		require.NoError(t, err)
		defer unix.Close(mfd)
		fd, err := unix.OpenByHandleAt(mfd, h, unix.O_RDONLY)
		require.NoError(t, err)
		require.NoError(t, unix.Close(fd))
	}
	openByHandle(watched)
	openByHandle(other)
	fd, err := unix.Creat(created, 0o600)
	require.NoError(t, err)
	require.NoError(t, unix.Close(fd))
	got := r.alerts(t, time.Second, mine)
	require.Len(t, got, 2, "the handle open of the watched file and the creat; not the other file")
	assert.Equal(t, watched, got[0].Path)
	assert.Equal(t, uint32(unix.O_RDONLY), got[0].Access&3)
	assert.Empty(t, got[0].Raw, "a handle has no path")
	assert.Equal(t, created, got[1].Path)
	assert.Equal(t, uint32(unix.O_WRONLY|unix.O_CREAT|unix.O_TRUNC), got[1].Access&(3|unix.O_CREAT|unix.O_TRUNC))
}

// A path deeper than the kernel's walk cannot be resolved whole: it is
// reported flagged FlagTruncPath and matched by every prefix rule (fail
// closed), not by exact-path rules; a shallow file outside the rules is not
// reported.
func TestFileOpenDeepPathFailsClosed(t *testing.T) {
	r := newPolicyRig(t)
	watched := t.TempDir()
	deep := watched
	for i := range 60 {
		deep = filepath.Join(deep, fmt.Sprintf("d%02d", i))
	}
	require.NoError(t, os.MkdirAll(deep, 0o700))
	file := filepath.Join(deep, "f")
	require.NoError(t, os.WriteFile(file, []byte("x"), 0o600))
	shallow := filepath.Join(otherTopDir(t), "f")
	require.NoError(t, os.WriteFile(shallow, []byte("x"), 0o600))
	c := r.apply(t, fmt.Sprintf(`name: deep
rules:
  - name: prefix
    event: file.open
    paths: [%s/]
  - name: exact
    event: file.open
    paths: [/nonexistent-vigil-exact]
`, watched))
	readFile(t, file)
	readFile(t, shallow)
	got := r.alerts(t, time.Second, mine)
	require.Len(t, got, 1)
	a := got[0]
	assert.Equal(t, FlagTruncPath, a.Flags&FlagTruncPath, "marked unresolved")
	assert.True(t, strings.HasSuffix(a.Path, "/d59/f"), a.Path)
	assert.NotEqual(t, file, a.Path, "the path is only the part walked")
	ref, ok := c.Rules.Strongest(KindFile, a.Rules)
	require.True(t, ok)
	assert.Equal(t, "prefix", ref.Rule)
	assert.Equal(t, uint64(1), a.Rules, "only the prefix rule")
}

// open_flags is tested in the kernel on the flags the caller asked for: the
// O_TRUNC open crosses, the O_APPEND open of the same file and a read do not.
func TestFileOpenFlagsFilteredInKernel(t *testing.T) {
	r := newPolicyRig(t)
	dir := t.TempDir()
	p := filepath.Join(dir, "log")
	require.NoError(t, os.WriteFile(p, []byte("l\n"), 0o600))
	r.apply(t, fmt.Sprintf(`name: trunc
rules:
  - name: truncate
    event: file.open
    paths: [%s/]
    access: [write]
    open_flags: [O_TRUNC]
`, dir))
	for _, fl := range []int{os.O_WRONLY | os.O_APPEND, os.O_WRONLY | os.O_TRUNC, os.O_RDONLY} {
		f, err := os.OpenFile(p, fl, 0)
		require.NoError(t, err)
		require.NoError(t, f.Close())
	}
	got := r.alerts(t, time.Second, mine)
	require.Len(t, got, 1)
	assert.Equal(t, uint32(os.O_WRONLY|os.O_TRUNC), got[0].Access&uint32(3|os.O_TRUNC|os.O_APPEND))
	assert.Equal(t, int32(3), min(got[0].Res, 3), "a descriptor")
}

// raw_path: records carry the path as the caller passed it ("../" included);
// failed_opens: failed opens are reported with the errno and the raw path. A
// clean absolute path is matched in the kernel like a resolved one (a failed
// open elsewhere is not reported); a relative or "../" path cannot be, and
// fails closed (reported).
func TestFileOpenRawPathAndFailedOpens(t *testing.T) {
	r := newPolicyRig(t)
	dir := t.TempDir()
	sub := filepath.Join(dir, "sub")
	require.NoError(t, os.Mkdir(sub, 0o700))
	p := filepath.Join(dir, "f")
	require.NoError(t, os.WriteFile(p, []byte("x"), 0o600))
	r.apply(t, fmt.Sprintf(`name: raw
rules:
  - name: raw
    event: file.open
    paths: [%s/]
    raw_path: true
    failed_opens: true
`, dir))
	wd, err := os.Getwd()
	require.NoError(t, err)
	require.NoError(t, os.Chdir(sub))
	t.Cleanup(func() { _ = os.Chdir(wd) })
	readFile(t, "../f")
	missing := filepath.Join(dir, "missing")
	_, err = os.Open(missing)
	require.ErrorIs(t, err, os.ErrNotExist)
	_, err = os.Open("/nonexistent-vigil-elsewhere")
	require.ErrorIs(t, err, os.ErrNotExist)
	_, err = os.Open("../missing2")
	require.ErrorIs(t, err, os.ErrNotExist)
	got := r.alerts(t, time.Second, mine)
	require.Len(t, got, 3, "the read, the failed open under the prefix, the unresolved failed open; not the one elsewhere")
	assert.Equal(t, p, got[0].Path)
	assert.Equal(t, "../f", got[0].Raw)
	assert.Zero(t, got[0].Flags&FlagOpenFailed)
	for i, raw := range []string{missing, "../missing2"} {
		a := got[i+1]
		assert.Equal(t, FlagOpenFailed, a.Flags&FlagOpenFailed)
		assert.Equal(t, -int32(unix.ENOENT), a.Res)
		assert.Equal(t, raw, a.Raw)
		assert.Empty(t, a.Path, "nothing resolved")
	}

	// Without raw_path and failed_opens the records carry neither, and failed
	// opens stay in the kernel.
	r.apply(t, fmt.Sprintf(`name: raw
rules:
  - name: plain
    event: file.open
    paths: [%s/]
`, dir))
	readFile(t, "../f")
	_, err = os.Open(missing)
	require.ErrorIs(t, err, os.ErrNotExist)
	got = r.alerts(t, time.Second, mine)
	require.Len(t, got, 1)
	assert.Empty(t, got[0].Raw)
}

// A bind mount made inside a user namespace (an unprivileged user's own mount
// namespace: unshare -Urm) is the same inode: an open through it is matched by
// identity and reported with the path inside that namespace. Fails (not
// skips) in CI when the host refuses user namespaces.
func TestFileOpenIdentityBindMountInUserNamespace(t *testing.T) {
	r := newPolicyRig(t)
	dir := t.TempDir()
	watched := filepath.Join(dir, "secret")
	require.NoError(t, os.WriteFile(watched, []byte("s"), 0o644))
	elsewhere := otherTopDir(t)
	require.NoError(t, os.Chmod(elsewhere, 0o755))
	require.NoError(t, os.Chmod(dir, 0o755))
	target := filepath.Join(elsewhere, "bind")
	require.NoError(t, os.WriteFile(target, nil, 0o644))
	r.apply(t, fmt.Sprintf(`name: identity-userns
rules:
  - name: secret
    event: file.open
    paths: [%s]
`, watched))
	out, err := exec.Command("unshare", "-Urm", "sh", "-c", fmt.Sprintf("mount --bind %s %s && cat %s", watched, target, target)).CombinedOutput()
	if err != nil {
		if testenv.InCI() {
			t.Fatalf("user namespace bind mount: %v: %s", err, out)
		}
		t.Skipf("this host refuses a bind mount in a user namespace: %v: %s", err, out)
	}
	require.Equal(t, "s", string(out))
	readFile(t, target) // outside the namespace: the empty file, another inode
	got := r.alerts(t, time.Second, func(a *Alert) bool { return a.Kind == KindFile && a.Path == target })
	require.Len(t, got, 1, "cat through the namespace's bind mount; not the empty file under it")
	// Matched by its canonical path (the rule's path) through the subtree mount.
	assert.Equal(t, FlagSubtreeMount, got[0].Flags&FlagSubtreeMount)
	assert.Equal(t, watched, got[0].Canonical)
	assert.NotEqual(t, uint32(os.Getpid()), got[0].TGID)
}
