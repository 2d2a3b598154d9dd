//go:build linux

package sensor

import (
	"crypto/rand"
	"encoding/hex"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vigilsec/vigil/internal/testenv"
)

// topDirName is a name of n bytes for a directory at the root: "vg", a random
// hex run, then tail; it must not exist yet.
func topDirName(t *testing.T, n int, tail string) string {
	t.Helper()
	b := make([]byte, 32)
	_, err := rand.Read(b)
	require.NoError(t, err)
	name := "vg" + hex.EncodeToString(b)
	name = name[:n-len(tail)] + tail
	_, err = os.Lstat("/" + name)
	require.True(t, os.IsNotExist(err), "/%s exists", name)
	return name
}

// mkTopDir makes /name with a file f in it, removed at the end.
func mkTopDir(t *testing.T, name string) string {
	t.Helper()
	dir := "/" + name
	require.NoError(t, os.Mkdir(dir, 0o700))
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	f := filepath.Join(dir, "f")
	require.NoError(t, os.WriteFile(f, nil, 0o600))
	return f
}

// The kernel's top-directory pre-filter hashes a top-level name's first
// eight bytes and length into top_buckets before it reads the name whole
// (user space computes the same hash). Watched top-level directories whose
// names are 3, 7, 8, 9, 15, 16 and 40 bytes long, one of them with
// non-ASCII bytes, are each reported: the two hashes agree for every length,
// below, at and past a word and past the 15 bytes top_dirs keeps. Look-alikes
// are not: a name differing from a watched one only in its ninth byte (the
// same bucket: top_dirs decides), one differing only past its fifteenth
// byte (the same top_dirs key: the path decides), one a byte longer, and the
// unwatched directory beside them.
func TestTopDirectoryNamesInKernel(t *testing.T) {
	testenv.RequireRoot(t)
	r := newPolicyRig(t)
	var watched, lookalike []string
	for _, n := range []int{3, 7, 8, 9, 15, 16, 40} {
		watched = append(watched, topDirName(t, n, ""))
	}
	watched = append(watched, topDirName(t, 12, "é€"))
	nine, sixteen := watched[3], watched[5]
	lookalike = append(lookalike,
		nine[:8]+string(nine[8]^1),         // the same bucket
		sixteen[:15]+string(sixteen[15]^1), // the same top_dirs key
		watched[1]+"x",                     // a byte longer
		topDirName(t, 10, ""),              // unwatched
	)
	body := "name: topdirs\nrules:\n  - event: file.open\n    paths: ["
	for i, w := range watched {
		if i > 0 {
			body += ", "
		}
		body += "/" + w + "/"
	}
	body += "]\n"
	var yes, no []string
	for _, w := range watched {
		yes = append(yes, mkTopDir(t, w))
	}
	for _, l := range lookalike {
		no = append(no, mkTopDir(t, l))
	}
	r.apply(t, body) // after the files were made: only the reads below are opens under the rule
	for _, p := range slices.Concat(yes, no) {
		readFile(t, p)
	}
	got := map[string]int{}
	for _, a := range r.alerts(t, time.Second, mine) {
		got[a.Path]++
	}
	for _, p := range yes {
		assert.Equal(t, 1, got[p], "a watched top directory: %s", p)
	}
	for _, p := range no {
		assert.Zero(t, got[p], "a look-alike: %s", p)
	}
}

// The Go side sizes top_buckets and file_id_bits (and shifts its hashes) by
// constants: they must be the maps' sizes in the kernel objects, or a bucket
// or bit user space sets is not the one the kernel reads.
func TestSummarySizesMatchKernelMaps(t *testing.T) {
	spec, err := loadProcess()
	require.NoError(t, err)
	assert.Equal(t, uint32(topBuckets), spec.Maps[MapTopBuckets].MaxEntries)
	assert.Equal(t, uint32(idBits/64), spec.Maps[MapFileIDBits].MaxEntries)
}
