package redact

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestArgs(t *testing.T) {
	r, err := New(true, []string{`(?i)sessionid=(\w+)`})
	require.NoError(t, err)
	tests := []struct {
		in, want []string
	}{
		{[]string{"mysql", "--password=hunter2", "-u", "root"}, []string{"mysql", "--password=***", "-u", "root"}},
		{[]string{"app", "--api-key", "abc123", "--verbose"}, []string{"app", "--api-key", "***", "--verbose"}},
		{[]string{"env", "GITHUB_TOKEN=ghp_x", "AWS_SECRET_ACCESS_KEY=y", "HOME=/root"}, []string{"env", "GITHUB_TOKEN=***", "AWS_SECRET_ACCESS_KEY=***", "HOME=/root"}},
		{[]string{"curl", "https://bob:s3cret@example.com/x"}, []string{"curl", "https://bob:***@example.com/x"}},
		{[]string{"curl", "-H", "Authorization: Bearer eyJhbGc"}, []string{"curl", "-H", "Authorization: Bearer ***"}},
		{[]string{"app", "token=abc"}, []string{"app", "token=***"}},
		{[]string{"app", "x?sessionid=deadbeef"}, []string{"app", "x?sessionid=***"}},
		{[]string{"ls", "-la", "/tmp"}, []string{"ls", "-la", "/tmp"}},
		{[]string{"/usr/bin/password=notasecret"}, []string{"/usr/bin/password=notasecret"}},
	}
	for _, tt := range tests {
		got, _ := r.Args(tt.in)
		assert.Equal(t, tt.want, got)
	}
	in := []string{"a", "--password=x"}
	_, changed := r.Args(in)
	assert.True(t, changed)
	assert.Equal(t, "--password=x", in[1], "input untouched")
}

func TestDisabledAndBadPattern(t *testing.T) {
	r, err := New(false, nil)
	require.NoError(t, err)
	got, changed := r.Args([]string{"a", "--password=x"})
	assert.False(t, changed)
	assert.Equal(t, "--password=x", got[1])
	_, err = New(true, []string{"("})
	assert.ErrorContains(t, err, "redaction.extra_patterns[0]")
}
