package rules

import (
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestGlob(t *testing.T) {
	for _, tc := range []struct {
		p, s string
		want bool
	}{
		{"*", "", true},
		{"*", "/a/b", true},
		{"/home/*/.ssh/*", "/home/alice/.ssh/id_rsa", true},
		{"/home/*/.ssh/*", "/home/alice/ssh/id_rsa", false},
		{"*../*../*", "/tmp/../../etc/shadow", true},
		{"*../*../*", "/tmp/../etc/shadow", false},
		{"a?c", "abc", true},
		{"a?c", "ac", false},
		{"[]a]", "]", true},
		{"[]a]", "a", true},
		{"[!]a]", "b", true},
		{"[^a-c]x", "dx", true},
		{"[^a-c]x", "bx", false},
		{"[a-]", "-", true},
		{`a\*`, `a\bc`, true},
		{"a[b", "a[b", true},
		{"**a**", "xxaxx", true},
		{"*a*b", "aaab", true},
		{"*a*b", "aaac", false},
	} {
		assert.Equal(t, tc.want, globMatch(tc.p, tc.s, false), "%q ~ %q", tc.p, tc.s)
	}
	assert.True(t, globMatch("/ETC/[s]*", "/etc/Shadow", true))
	assert.False(t, globMatch("/ETC/[s]*", "/etc/Shadow", false))
}

// globRegexp translates a checked pattern into an equivalent regular expression.
func globRegexp(p string) string {
	var b strings.Builder
	b.WriteString(`(?s)^`)
	for i := 0; i < len(p); i++ {
		switch c := p[i]; c {
		case '*':
			b.WriteString(`.*`)
		case '?':
			b.WriteString(`.`)
		case '[':
			end, ok := classEnd(p, i)
			if !ok {
				b.WriteString(regexp.QuoteMeta("["))
				continue
			}
			b.WriteByte('[')
			j := i + 1
			if p[j] == '!' || p[j] == '^' {
				b.WriteByte('^')
				j++
			}
			for ; j < end; j++ {
				lo, hi := p[j], p[j]
				if j+2 < end && p[j+1] == '-' {
					hi = p[j+2]
					j += 2
				}
				if lo > hi {
					continue // matches nothing, in the matcher as here
				}
				b.WriteString(regexp.QuoteMeta(string(lo)))
				if hi != lo {
					b.WriteByte('-')
					b.WriteString(regexp.QuoteMeta(string(hi)))
				}
			}
			b.WriteByte(']')
			i = end
		default:
			b.WriteString(regexp.QuoteMeta(string(c)))
		}
	}
	b.WriteByte('$')
	return b.String()
}

// FuzzGlob checks the matcher against a regular-expression translation of the pattern.
func FuzzGlob(f *testing.F) {
	f.Add("/home/*/.ssh/*", "/home/a/.ssh/k")
	f.Add("*../*../*", "/a/../../b")
	f.Add("[!a-c]?x*", "dqxyz")
	f.Add("[]-]*", "]")
	f.Fuzz(func(t *testing.T, p, s string) {
		if len(p) > 64 || len(s) > 256 {
			return
		}
		for _, str := range []string{p, s} {
			for i := 0; i < len(str); i++ {
				if str[i] >= 0x80 || str[i] == 0 {
					return // the reference works on runes; the matcher on bytes
				}
			}
		}
		got := globMatch(p, s, false)
		expr := globRegexp(p)
		re, err := regexp.Compile(expr)
		if err != nil {
			// Classes the reference cannot express (empty or reversed ranges) are skipped.
			return
		}
		if want := re.MatchString(s); got != want {
			t.Fatalf("glob %q on %q = %v, regexp %s says %v", p, s, got, expr, want)
		}
	})
}
