// Package redact masks secrets in command lines before they leave the host.
package redact

import (
	"fmt"
	"regexp"
	"strings"
)

// Mask replaces a secret.
const Mask = "***"

// defaultKeys are substrings of option and variable names whose values are secrets.
const defaultKeys = `pass(word|wd)?|pwd|secret|token|api[-_]?key|access[-_]?key|private[-_]?key|credentials?|auth`

var (
	// --password=x, -token:x, PASSWORD=x, aws_secret_access_key=x
	keyValue = regexp.MustCompile(`(?i)^(-{0,2}[a-z0-9_.-]*(?:` + defaultKeys + `)[a-z0-9_.-]*[=:])(.+)$`)
	// a bare option whose next argument is the secret: --password x
	bareKey = regexp.MustCompile(`(?i)^-{1,2}[a-z0-9_.-]*(?:` + defaultKeys + `)[a-z0-9_.-]*$`)
	// scheme://user:secret@host
	urlUserinfo = regexp.MustCompile(`([a-zA-Z][a-zA-Z0-9+.-]*://[^/:@\s]*:)([^@/\s]+)(@)`)
	// Authorization: Bearer x / Basic x
	bearer = regexp.MustCompile(`(?i)^((?:authorization:\s*)?(?:bearer|basic)\s+)(.+)$`)
)

// Redactor masks secrets in argument vectors.
type Redactor struct {
	enabled bool
	extra   []*regexp.Regexp
}

// New returns a redactor. extra patterns are regular expressions applied to each
// argument: the first capture group is masked, or the whole match without one.
func New(enabled bool, extra []string) (*Redactor, error) {
	r := &Redactor{enabled: enabled}
	for i, p := range extra {
		re, err := regexp.Compile(p)
		if err != nil {
			return nil, fmt.Errorf("redaction.extra_patterns[%d]: %w", i, err)
		}
		r.extra = append(r.extra, re)
	}
	return r, nil
}

// Args returns args with secrets masked, and whether anything was masked. The
// input is not modified.
func (r *Redactor) Args(args []string) ([]string, bool) {
	if !r.enabled || len(args) == 0 {
		return args, false
	}
	var out []string
	changed := false
	set := func(i int, v string) {
		if out == nil {
			out = append([]string(nil), args...)
		}
		out[i] = v
		changed = true
	}
	for i := 0; i < len(args); i++ {
		a := args[i]
		if i == 0 {
			continue // the program name is not a secret
		}
		if !mayHoldSecret(a) && len(r.extra) == 0 {
			continue
		}
		if m := bearer.FindStringSubmatchIndex(a); m != nil {
			set(i, a[:m[3]]+Mask)
			continue
		}
		if m := keyValue.FindStringSubmatchIndex(a); m != nil {
			set(i, a[:m[3]]+Mask)
			continue
		}
		if bareKey.MatchString(a) && i+1 < len(args) && !strings.HasPrefix(args[i+1], "-") {
			set(i+1, Mask)
			i++
			continue
		}
		v := a
		if urlUserinfo.MatchString(v) {
			v = urlUserinfo.ReplaceAllString(v, "${1}"+Mask+"${3}")
		}
		for _, re := range r.extra {
			v = maskWith(re, v)
		}
		if v != a {
			set(i, v)
		}
	}
	if !changed {
		return args, false
	}
	return out, true
}

// mayHoldSecret is a cheap filter before the regular expressions: every default
// pattern needs an option dash, a separator, a URL or a bearer/basic scheme.
func mayHoldSecret(a string) bool {
	if a == "" {
		return false
	}
	if a[0] == '-' || strings.ContainsAny(a, "=:") {
		return true
	}
	return len(a) > 6 && (strings.HasPrefix(strings.ToLower(a[:6]), "bearer") || strings.HasPrefix(strings.ToLower(a[:5]), "basic"))
}

func maskWith(re *regexp.Regexp, s string) string {
	return re.ReplaceAllStringFunc(s, func(m string) string {
		sub := re.FindStringSubmatchIndex(m)
		if len(sub) >= 4 && sub[2] >= 0 {
			return m[:sub[2]] + Mask + m[sub[3]:]
		}
		return Mask
	})
}
