//go:build linux

package sensor

import (
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// The LPM closure (directories by lookup, other prefixes by comparison) gives
// every key the masks of all entries covering it, as comparing every pair does.
func TestClosePathsMatchesPairwise(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	parts := []string{"a", "b", "ab", "etc", "x"}
	for round := range 200 {
		var entries []pathEntry
		for i := range 1 + rng.IntN(30) {
			var b strings.Builder
			for range 1 + rng.IntN(4) {
				b.WriteString("/" + parts[rng.IntN(len(parts))])
			}
			path := b.String()
			e := pathEntry{path: path, exact: true, mask: 1 << (i % 64)}
			switch rng.IntN(3) {
			case 0:
				e.path, e.exact = path+"/", false
			case 1:
				e.exact = false // a prefix without a trailing slash (binary_prefixes)
			}
			entries = append(entries, e)
		}
		got := map[processBinKey]uint64{}
		closePaths(entries, got)
		want := map[processBinKey]uint64{}
		for _, e := range entries {
			m := uint64(0)
			for _, o := range entries {
				if o.covers(e) {
					m |= o.mask
				}
			}
			want[e.key()] |= m
		}
		require.Equal(t, want, got, "round %d", round)
	}
}
