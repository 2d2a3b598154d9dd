package policy

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestExeFlags(t *testing.T) {
	p, err := ParseBytes("ok.yaml", []byte("name: fileless\nrules:\n  - event: process.exec\n    exe_flags: [memfd, upper_layer]\n    action: kill\n"))
	require.NoError(t, err)
	assert.Equal(t, []ExeFlag{ExeMemfd, ExeUpperLayer}, p.Rules[0].ExeFlags)

	for src, want := range map[string]string{
		"name: a\nrules:\n  - event: process.exec\n    exe_flags: [memfd, fileless]\n":        `bad.yaml:4: rules[0].exe_flags[1]: must be one of memfd, upper_layer, setuid, setgid, got "fileless"`,
		"name: a\nrules:\n  - event: process.exec\n    exe_flags: [setuid, setuid]\n":         `bad.yaml:4: rules[0].exe_flags[1]: duplicate flag setuid`,
		"name: a\nrules:\n  - event: file.open\n    paths: [/etc/]\n    exe_flags: [memfd]\n": `bad.yaml:5: rules[0].exe_flags: not allowed for event file.open`,
	} {
		_, err := ParseBytes("bad.yaml", []byte(src))
		require.Error(t, err, src)
		assert.Contains(t, err.Error(), want)
	}
}
