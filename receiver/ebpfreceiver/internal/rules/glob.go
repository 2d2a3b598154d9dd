package rules

import "fmt"

// Glob patterns as Falco's glob operator reads them (fnmatch without FNM_PATHNAME):
// '*' matches any run of bytes including '/', '?' one byte, '[...]' one byte of a class
// ('[!...]' or '[^...]' negated, ranges 'a-z', a leading ']' literal). A backslash is an
// ordinary byte. fold compares ASCII letters case-insensitively.

func checkGlob(p string) error {
	for i := 0; i < len(p); i++ {
		if p[i] == '[' {
			end, ok := classEnd(p, i)
			if !ok {
				return fmt.Errorf("[ at byte %d is not closed", i)
			}
			i = end
		}
	}
	return nil
}

// classEnd returns the index of the ']' closing the class opened at p[i].
func classEnd(p string, i int) (int, bool) {
	j := i + 1
	if j < len(p) && (p[j] == '!' || p[j] == '^') {
		j++
	}
	if j < len(p) && p[j] == ']' {
		j++
	}
	for ; j < len(p); j++ {
		if p[j] == ']' {
			return j, true
		}
	}
	return 0, false
}

func lower(c byte) byte {
	if c >= 'A' && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// matchClass matches c against the class p[i:end+1].
func matchClass(p string, i, end int, c byte, fold bool) bool {
	j := i + 1
	neg := false
	if p[j] == '!' || p[j] == '^' {
		neg = true
		j++
	}
	if fold {
		c = lower(c)
	}
	hit := false
	for ; j < end; j++ {
		lo := p[j]
		hi := lo
		if j+2 < end && p[j+1] == '-' {
			hi = p[j+2]
			j += 2
		}
		if fold {
			lo, hi = lower(lo), lower(hi)
		}
		if lo <= c && c <= hi {
			hit = true
		}
	}
	return hit != neg
}

// globMatch reports whether s matches the pattern p (checked by checkGlob).
func globMatch(p, s string, fold bool) bool {
	pi, si := 0, 0
	starP, starS := -1, 0
	for si < len(s) {
		if pi < len(p) {
			switch p[pi] {
			case '*':
				starP, starS = pi, si
				pi++
				continue
			case '?':
				pi++
				si++
				continue
			case '[':
				if end, ok := classEnd(p, pi); ok {
					if matchClass(p, pi, end, s[si], fold) {
						pi = end + 1
						si++
						continue
					}
					break
				}
				fallthrough
			default:
				c, d := p[pi], s[si]
				if fold {
					c, d = lower(c), lower(d)
				}
				if c == d {
					pi++
					si++
					continue
				}
			}
		}
		if starP < 0 {
			return false
		}
		starS++
		pi, si = starP+1, starS
	}
	for pi < len(p) && p[pi] == '*' {
		pi++
	}
	return pi == len(p)
}
