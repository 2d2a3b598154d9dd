// Package redact masks secrets in command lines before they leave the host.
//
// Every argument but the program name is looked at twice: as one word of the argument
// vector, and, when it holds shell separators (sh -c payloads, quoted headers), as a
// small shell command line of its own whose words are scanned with the same rules. A
// secret is replaced by Mask in place; everything around it is kept byte for byte.
//
// The rules are
//   - option and variable values whose name looks secret: --password=x, TOKEN=x,
//     --api-key x, --password -x, user=u,password=x (mount options), from-literal=token=x;
//   - program-specific flags, matched by the base name of the program (argument 0, the
//     first word of a shell command, or a known program name later on the line, as in
//     sudo mysql ... or docker exec c mysql ...): mysql/mariadb -p<secret>, sshpass -p,
//     redis-cli -a, docker/podman/helm/skopeo ... login -p, curl -u user:<secret>,
//     htpasswd -b file user <secret>;
//   - "config set <secret-looking key> <value>" (aws configure set, git config, npm config);
//   - URL credentials (scheme://user:<secret>@host, the secret may contain '@') and URL
//     query parameters whose name looks secret (?access_token=, &sig=, &key=);
//   - Authorization headers (Bearer, Basic, token) and well-known token shapes: AWS access
//     key ids, JWTs, GitHub, GitLab, Slack, Google, Stripe and npm tokens, private key blocks.
package redact

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
)

// Mask replaces a secret.
const Mask = "***"

// defaultKeys are substrings of option and variable names whose values are secrets.
const defaultKeys = `pass(?:word|wd)?|pwd|secret|token|api[-_]?key|access[-_]?key|private[-_]?key|credentials?|creds|auth`

var (
	// Inside a word: user=u,password=x and --from-literal=token=x.
	keyEq = regexp.MustCompile(`(?i)(?:^|[/:=,;&?])([a-z0-9_.-]*(?:` + defaultKeys + `)[a-z0-9_.-]*=)([^\s&,;'"]+)`)
	// A configuration key after "config set": aws_secret_access_key, user.password.
	bareName = regexp.MustCompile(`(?i)^[a-z0-9_./:-]*(?:` + defaultKeys + `)[a-z0-9_.-]*$`)
	// scheme://user:secret@host; the secret runs to the last '@' before the host.
	urlUserinfo = regexp.MustCompile(`[a-zA-Z][a-zA-Z0-9+.-]*://[^/:@\s'"]*:([^/\s?#'"]*)@`)
	// ?access_token=x, &sig=x, &key=x.
	query = regexp.MustCompile(`(?i)[?&;](?:[a-z0-9_.-]*(?:` + defaultKeys + `)[a-z0-9_.-]*|(?:[a-z0-9_.-]*[_.-])?(?:key|sig|signature))=([^&#\s'"]+)`)
	// Authorization: Bearer x / Basic x / token x, and an argument "Bearer x".
	bearer = regexp.MustCompile(`(?i)(?:(?:^|[:='"])\s*(?:bearer|basic)|authorization:\s*token)\s+([^\s'"]+)`)
	// Token shapes that are secrets wherever they appear.
	shapes = regexp.MustCompile(`\b(?:` +
		`(?:AKIA|ASIA|AGPA|AIDA|AROA|ANPA|ANVA|AIPA)[A-Z0-9]{16}\b|` + // AWS access key ids
		`eyJ[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]*|` + // JWT
		`gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,}|` + // GitHub
		`glpat-[A-Za-z0-9_-]{20,}|` + // GitLab
		`xox[abposr]-[A-Za-z0-9-]{8,}|` + // Slack
		`AIza[A-Za-z0-9_-]{35}|` + // Google API key
		`[rs]k_live_[A-Za-z0-9]{16,}|` + // Stripe
		`npm_[A-Za-z0-9]{36})`) // npm
	// A PEM private key: the body is masked, up to the END line or the end of the argument.
	privateKey = regexp.MustCompile(`-----BEGIN[A-Z0-9 ]*PRIVATE KEY-----([\s\S]*?)(?:-----END[A-Z0-9 ]*PRIVATE KEY-----|$)`)
)

// Redactor masks secrets in argument vectors. It holds no mutable state: one
// Redactor may be used from several goroutines.
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
// input is not modified; the result has as many elements as args, and args[0] is
// never changed.
func (r *Redactor) Args(args []string) ([]string, bool) {
	if r == nil || !r.enabled || len(args) < 2 {
		return args, false
	}
	out, changed, structural := r.pass(args)
	// A mask that swallowed whitespace, a separator or a quote can change how the
	// rest reads (a quoted value that held the only whitespace makes a shell string
	// one word), so masking then repeats until nothing changes: the result is what a
	// second call would return. Each pass only masks more, so it settles quickly;
	// the bound keeps the cost fixed.
	for n := 1; structural && n < maxPasses; n++ {
		var again []string
		var more bool
		again, more, structural = r.pass(out)
		if !more || slices.Equal(again, out) {
			break
		}
		out = again
	}
	return out, changed
}

// maxPasses bounds the masking passes of one command line.
const maxPasses = 4

// pass masks args once. structural reports a mask over whitespace, a shell
// separator or a quote.
func (r *Redactor) pass(args []string) (out []string, changed, structural bool) {
	m := masker{args: args}
	// The argument vector as words, argument 0 included (it names the program).
	var st cmdState
	for i, a := range args {
		h := scan(a)
		if i == 0 {
			st.start(a)
			continue
		}
		// The text rules first: a word they mask partly or wholly (a token, a
		// URL password) sets no state for the words after it, as on a second pass.
		m.raw(i, h, r.extra)
		m.word(&st, word{arg: i, start: 0, end: len(a), whole: true, h: h})
		if h&hSep != 0 {
			m.shell(i)
		}
	}
	if m.spans == nil {
		return args, false, false
	}
	out, structural = m.apply()
	return out, true, structural
}

// span is a masked byte range [s, e) of one argument.
type span struct{ s, e int }

type masker struct {
	args  []string
	spans [][]span // per argument, nil until something is masked
}

func (m *masker) mask(arg, s, e int) {
	if s >= e || arg <= 0 {
		return
	}
	if m.spans == nil {
		m.spans = make([][]span, len(m.args))
	}
	m.spans[arg] = append(m.spans[arg], span{s, e})
}

// masked reports whether a mask overlaps [s, e) of argument arg.
func (m *masker) masked(arg, s, e int) bool {
	if m.spans == nil {
		return false
	}
	for _, sp := range m.spans[arg] {
		if sp.s < e && s < sp.e {
			return true
		}
	}
	return false
}

// apply builds the output: every argument with masks has its merged spans (overlapping
// or touching) replaced by one Mask each.
func (m *masker) apply() (out []string, structural bool) {
	out = slices.Clone(m.args)
	for i, sp := range m.spans {
		if len(sp) == 0 {
			continue
		}
		slices.SortFunc(sp, func(a, b span) int { return a.s - b.s })
		a := m.args[i]
		var b strings.Builder
		b.Grow(len(a))
		pos := 0
		for j := 0; j < len(sp); {
			s, e := sp[j].s, sp[j].e
			for j++; j < len(sp) && sp[j].s <= e; j++ {
				e = max(e, sp[j].e)
			}
			b.WriteString(a[pos:s])
			b.WriteString(Mask)
			structural = structural || strings.ContainsAny(a[s:e], " \t\n\r\v\f;&|()`'\"")
			pos = e
		}
		b.WriteString(a[pos:])
		out[i] = b.String()
	}
	return out, structural
}

// raw applies the rules that look at an argument's text rather than its words.
func (m *masker) raw(i int, h hints, extra []*regexp.Regexp) {
	a := m.args[i]
	if h&hSep == 0 {
		m.chunk(i, a, 0, h)
	} else {
		// URL, query and token rules never span whitespace: apply them to each
		// whitespace-separated chunk that can hold a match, not to the whole text.
		for p := 0; p < len(a); {
			if isSpace(a[p]) {
				p++
				continue
			}
			q := p
			for q < len(a) && !isSpace(a[q]) {
				q++
			}
			if ch := scan(a[p:q]); ch&(hURL|hQuery|hShape) != 0 {
				m.chunk(i, a[p:q], p, ch)
			}
			p = q
		}
	}
	if h&hBearer != 0 {
		m.group(i, bearer, a, 0, 1)
	}
	if h&hPEM != 0 {
		m.group(i, privateKey, a, 0, 1)
	}
	for _, re := range extra {
		for _, x := range re.FindAllStringSubmatchIndex(a, -1) {
			if len(x) >= 4 && x[2] >= 0 {
				m.mask(i, x[2], x[3])
			} else {
				m.mask(i, x[0], x[1])
			}
		}
	}
}

// chunk applies the URL, query and token rules to s, found at offset off of argument i.
func (m *masker) chunk(i int, s string, off int, h hints) {
	if h&hURL != 0 {
		m.group(i, urlUserinfo, s, off, 1)
	}
	if h&hQuery != 0 {
		m.group(i, query, s, off, 1)
	}
	if h&hShape != 0 {
		m.group(i, shapes, s, off, 0)
	}
}

// group masks capture group g (0: the whole match) of every match of re in s, found
// at offset off of argument i.
func (m *masker) group(i int, re *regexp.Regexp, s string, off, g int) {
	for _, x := range re.FindAllStringSubmatchIndex(s, -1) {
		m.mask(i, off+x[2*g], off+x[2*g+1])
	}
}

// shell scans argument i as a shell command line: words are split on unquoted and
// quoted whitespace alike and on ; & | ( ) ` and newlines, which also start a new
// command. Quotes around a word are not part of it; a value that opens a quote runs
// to the closing one.
func (m *masker) shell(i int) {
	a := m.args[i]
	var st cmdState
	first := true
	for p := 0; p < len(a); {
		c := a[p]
		if isSpace(c) {
			p++
			continue
		}
		if isCmdSep(c) {
			first = true
			p++
			continue
		}
		q := p
		for q < len(a) && !isSpace(a[q]) && !isCmdSep(a[q]) {
			q++
		}
		w := word{arg: i, start: p, end: q, h: scan(a[p:q])}
		if first {
			st.start(trimQuotes(a[p:q]))
			first = false
			// An assignment before the command is still looked at: TOKEN=x ./run.
			if w.h&hEq != 0 {
				q = max(q, m.word(&st, w))
			}
		} else {
			q = max(q, m.word(&st, w))
		}
		p = q
	}
}

func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'
}

func isCmdSep(c byte) bool {
	return c == ';' || c == '&' || c == '|' || c == '(' || c == ')' || c == '`'
}

func isQuote(c byte) bool { return c == '\'' || c == '"' }

func trimQuotes(s string) string {
	return strings.TrimRight(strings.TrimLeft(s, `'"`), `'"`)
}

// word is one word of a command: a whole argument (whole) or a range of one.
type word struct {
	arg, start, end int
	whole           bool
	h               hints
}

type progKind uint8

const (
	progOther progKind = iota
	progMySQL
	progSSHPass
	progRedis
	progRegistry
	progCurl
	progHtpasswd
	progPlain // a known program without secret flags (ssh after sshpass, ...)
)

// progOf returns the kind of a program base name, and whether it is known.
func progOf(name string) (progKind, bool) {
	switch name {
	case "mysql", "mariadb", "mysqldump", "mysqladmin", "mysqlimport", "mysqlshow", "mysqlcheck",
		"mysqlpump", "mysqlslap", "mysqlbinlog", "mysqlsh", "mariadb-dump", "mariadb-admin",
		"mariadb-import", "mariadb-show", "mariadb-check", "mariadb-slap", "mariadb-binlog":
		return progMySQL, true
	case "sshpass":
		return progSSHPass, true
	case "redis-cli", "valkey-cli", "keydb-cli":
		return progRedis, true
	case "docker", "podman", "nerdctl", "buildah", "skopeo", "helm", "oras", "crane":
		return progRegistry, true
	case "curl":
		return progCurl, true
	case "htpasswd":
		return progHtpasswd, true
	case "ssh", "scp", "sftp", "rsync", "git", "sudo", "env", "kubectl":
		return progPlain, true
	}
	return progOther, false
}

func baseName(s string) string {
	if i := strings.LastIndexByte(s, '/'); i >= 0 {
		return s[i+1:]
	}
	return s
}

type pendKind uint8

const (
	pendNone       pendKind = iota
	pendWhole               // the next word is the secret
	pendAfterColon          // the next word is user:secret
)

// cmdState is what the words of one command have said so far.
type cmdState struct {
	prog     progKind
	login    bool // a registry tool's "login" subcommand was seen
	config   bool // "config", "configure" or "set" was seen
	pending  pendKind
	htpNeed  int // htpasswd -b: positional index of the password, 0 if not batch mode
	htpCount int
}

func (st *cmdState) start(program string) {
	*st = cmdState{}
	st.prog, _ = progOf(baseName(program))
}

// word applies the word rules to w. It returns where the scan of a shell string goes
// on: after the word, or after the closing quote of a quoted value that runs past it
// (the words inside a masked value are not looked at, on the first pass or later).
func (m *masker) word(st *cmdState, w word) (next int) {
	next = w.end
	a := m.args[w.arg]
	raw := a[w.start:w.end]
	ts := w.start + len(raw) - len(strings.TrimLeft(raw, `'"`))
	te := w.start + len(strings.TrimRight(raw, `'"`))
	if te < ts {
		te = ts
	}
	t := a[ts:te]
	// valueEnd is where a value starting at v ends: at the closing quote when it
	// opens one, else at the end of the word (of the argument for a whole argument).
	valueEnd := func(v int) (int, int) {
		if w.whole {
			// A literal quote around the whole value is kept: --password="***".
			if v+1 < len(a) && isQuote(a[v]) {
				if a[len(a)-1] == a[v] && len(a)-1 > v+1 {
					return v + 1, len(a) - 1
				}
				return v + 1, len(a)
			}
			return v, len(a)
		}
		if v < len(a) && v < w.end && isQuote(a[v]) {
			e := len(a)
			if c := strings.IndexByte(a[v+1:], a[v]); c >= 0 {
				e = v + 1 + c
			}
			next = max(next, min(e+1, len(a)))
			return v + 1, e
		}
		return v, te
	}

	if p := st.pending; p != pendNone {
		st.pending = pendNone
		if !strings.HasPrefix(t, "--") {
			if p == pendWhole {
				s, e := 0, len(a)
				if !w.whole {
					s, e = valueEnd(w.start)
				}
				m.mask(w.arg, s, e)
				// The word was the secret: nothing else in it counts (it names no
				// program and sets no flag), which keeps a second pass identical.
				return next
			} else if c := strings.IndexByte(t, ':'); c >= 0 {
				m.mask(w.arg, ts+c+1, te)
			}
		}
	}
	if t == "" {
		return next
	}

	dash := t[0] == '-'
	masked := m.masked(w.arg, ts, te)
	if !dash && !masked && w.h&(hEq|hSep) == 0 {
		if k, ok := progOf(baseName(t)); ok {
			st.start(t)
			st.prog = k
			return next
		}
		switch t {
		case "login":
			st.login = true
		case "config", "configure", "set":
			st.config = true
		}
	}

	switch st.prog {
	case progMySQL:
		if dash && len(t) > 2 && t[1] == 'p' {
			m.mask(w.arg, ts+2, te)
		}
	case progSSHPass:
		if t == "-p" {
			st.pending = pendWhole
		} else if dash && len(t) > 2 && t[1] == 'p' {
			m.mask(w.arg, ts+2, te)
		}
	case progRedis:
		if t == "-a" {
			st.pending = pendWhole
		}
	case progRegistry:
		if st.login && t == "-p" {
			st.pending = pendWhole
		} else if st.login && dash && len(t) > 2 && t[1] == 'p' {
			m.mask(w.arg, ts+2, te)
		}
	case progCurl:
		switch {
		case t == "-u" || t == "-U" || t == "--user" || t == "--proxy-user":
			st.pending = pendAfterColon
		case dash && len(t) > 2 && (t[1] == 'u' || t[1] == 'U'), strings.HasPrefix(t, "--user="), strings.HasPrefix(t, "--proxy-user="):
			if c := strings.IndexByte(t, ':'); c >= 0 {
				m.mask(w.arg, ts+c+1, te)
			}
		}
	case progHtpasswd:
		if dash {
			if st.htpNeed == 0 && strings.ContainsRune(t[1:], 'b') {
				st.htpNeed = 3
				if strings.ContainsRune(t[1:], 'n') {
					st.htpNeed = 2
				}
			}
		} else if st.htpNeed > 0 {
			st.htpCount++
			if st.htpCount == st.htpNeed {
				m.mask(w.arg, ts, te)
			}
		}
	}

	if w.h&hKey == 0 {
		return next
	}
	sep := w.h&(hEq|hColon) != 0
	kv := false
	if sep && (!w.whole || dash || w.h&hSep == 0) {
		if v := keyValueAt(t); v >= 0 {
			// The value runs to the end of the word: later key=value pairs in it
			// are covered.
			s, e := valueEnd(ts + v)
			m.mask(w.arg, s, e)
			kv = true
		}
	}
	// A pair inside the word needs a separator before its name; a whole argument
	// holding shell separators is scanned word by word instead.
	if !kv && w.h&hEq != 0 && (!w.whole || w.h&hSep == 0) && (strings.Count(t, "=") > 1 || strings.ContainsAny(t, ",/:;&?")) {
		for _, x := range keyEq.FindAllStringSubmatchIndex(t, -1) {
			m.mask(w.arg, ts+x[4], ts+x[5])
		}
	}
	switch {
	case masked:
	case dash && !sep && !takesNoValue(t) && isBareKey(t):
		// mysql's --password and -p take no separate value: they prompt.
		if st.prog != progMySQL || (t != "--password" && t != "-p") {
			st.pending = pendWhole
		}
	case !dash && st.config && !strings.Contains(t, "helper") && bareName.MatchString(t):
		st.pending = pendWhole
	}
	return next
}

// keyValueAt returns where the value of a name=value or name:value word starts when
// the name looks secret (--password=x, -token:x, PASSWORD=x, aws_secret_access_key=x),
// else -1. The name is made of ASCII letters, digits, '_', '.' and '-'.
func keyValueAt(t string) int {
	for i := 0; i < len(t); i++ {
		switch c := t[i]; {
		case c == '=' || c == ':':
			if i+1 < len(t) && hasKeyWord(t[:i]) {
				return i + 1
			}
			return -1
		case !isNameByte(c):
			return -1
		}
	}
	return -1
}

// isBareKey reports whether t is an option with a secret-looking name and no value:
// --password, --api-key.
func isBareKey(t string) bool {
	if t == "" || t[0] != '-' {
		return false
	}
	for i := 1; i < len(t); i++ {
		if !isNameByte(t[i]) {
			return false
		}
	}
	return hasKeyWord(t)
}

func isNameByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '.' || c == '-'
}

// hasKeyWord reports whether name contains one of defaultKeys, ignoring ASCII case.
func hasKeyWord(name string) bool {
	for i := 0; i < len(name); i++ {
		r := name[i:]
		switch name[i] | 0x20 {
		case 'p':
			if hasFold(r, "pass") || hasFold(r, "pwd") || hasFold(r, "private") && keyAfter(r[7:]) {
				return true
			}
		case 's':
			if hasFold(r, "secret") {
				return true
			}
		case 't':
			if hasFold(r, "token") {
				return true
			}
		case 'a':
			if hasFold(r, "auth") || hasFold(r, "api") && keyAfter(r[3:]) || hasFold(r, "access") && keyAfter(r[6:]) {
				return true
			}
		case 'c':
			if hasFold(r, "credential") || hasFold(r, "creds") {
				return true
			}
		}
	}
	return false
}

// keyAfter reports whether r starts with "key", "-key" or "_key".
func keyAfter(r string) bool {
	if r != "" && (r[0] == '-' || r[0] == '_') {
		r = r[1:]
	}
	return hasFold(r, "key")
}

// takesNoValue reports whether a bare option is a flag or names where a secret is,
// rather than being followed by one: --password-stdin, --token-file f, --no-auth.
func takesNoValue(t string) bool {
	if strings.HasPrefix(t, "--no-") {
		return true
	}
	for _, suffix := range [...]string{"stdin", "file", "prompt", "askpass", "path", "dir", "env", "helper", "type", "method", "mode"} {
		if n := len(t) - len(suffix); n >= 0 && hasFold(t[n:], suffix) {
			return true
		}
	}
	return false
}

// hints are facts about a string found in one pass, so that the regular expressions
// run only where they can match.
type hints uint16

const (
	hKey    hints = 1 << iota // a secret-looking name: pass, pwd, secret, token, key, cred, auth
	hEq                       // '='
	hSep                      // whitespace or a shell command separator
	hURL                      // "://" followed later by '@'
	hQuery                    // '?', '&' or ';' followed later by '='
	hBearer                   // bearer, basic or authorization
	hShape                    // the start of a well-known token shape
	hPEM                      // "-----BEGIN"
	hColon                    // ':'
)

func scan(s string) hints {
	var h hints
	url, q := false, false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch c {
		case '=':
			h |= hEq
			if q {
				h |= hQuery
			}
			continue
		case '?', '&', ';':
			q = true
			if c != '?' {
				h |= hSep
			}
			continue
		case ' ', '\t', '\n', '\r', '\v', '\f', '|', '(', ')', '`':
			h |= hSep
			continue
		case ':':
			h |= hColon
			if strings.HasPrefix(s[i:], "://") {
				url = true
			}
			continue
		case '@':
			if url {
				h |= hURL
			}
			continue
		case '-':
			if strings.HasPrefix(s[i:], "-----BEGIN") {
				h |= hPEM
			}
			continue
		case 'A':
			if hasAny(s[i:], "AKIA", "ASIA", "AGPA", "AIDA", "AROA", "ANPA", "ANVA", "AIPA", "AIza") {
				h |= hShape
			}
		case 'e':
			if strings.HasPrefix(s[i:], "eyJ") {
				h |= hShape
			}
		case 'g':
			if r := s[i:]; len(r) > 3 && r[1] == 'h' && r[3] == '_' || strings.HasPrefix(r, "github_pat_") || strings.HasPrefix(r, "glpat-") {
				h |= hShape
			}
		case 'x':
			if r := s[i:]; len(r) > 4 && r[1] == 'o' && r[2] == 'x' && r[4] == '-' {
				h |= hShape
			}
		case 'n':
			if strings.HasPrefix(s[i:], "npm_") {
				h |= hShape
			}
		case '_':
			if strings.HasPrefix(s[i:], "_live_") {
				h |= hShape
			}
		}
		switch c | 0x20 {
		case 'p':
			if hasFold(s[i:], "pass") || hasFold(s[i:], "pwd") || hasFold(s[i:], "private") {
				h |= hKey
			}
		case 's':
			if hasFold(s[i:], "secret") {
				h |= hKey
			}
		case 't':
			if hasFold(s[i:], "token") {
				h |= hKey
			}
		case 'k':
			if hasFold(s[i:], "key") {
				h |= hKey
			}
		case 'c':
			if hasFold(s[i:], "cred") {
				h |= hKey
			}
		case 'a':
			if hasFold(s[i:], "auth") {
				h |= hKey
				if hasFold(s[i:], "authorization") {
					h |= hBearer
				}
			}
		case 'b':
			if hasFold(s[i:], "bearer") || hasFold(s[i:], "basic") {
				h |= hBearer
			}
		}
	}
	return h
}

func hasAny(s string, prefixes ...string) bool {
	for _, p := range prefixes {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}

// hasFold reports whether s starts with the lower-case ASCII word p, ignoring case.
func hasFold(s, p string) bool {
	if len(s) < len(p) {
		return false
	}
	for i := 0; i < len(p); i++ {
		if s[i]|0x20 != p[i] {
			return false
		}
	}
	return true
}
