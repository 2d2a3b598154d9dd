package event

import "github.com/vigilsec/vigil/receiver/ebpfreceiver/internal/caps"

// CapName is the name of capability n ("CAP_SYS_ADMIN"), "" for a number
// this version does not name.
func CapName(n int) string { return caps.Name(n) }

// AppendCapNames appends the names of the capabilities in set, space
// separated, lowest number first (as Falco renders thread.cap_effective). A
// capability without a name is written CAP_<number>.
func AppendCapNames(b []byte, set uint64) []byte {
	first := true
	for n := range 64 {
		if set&(1<<n) == 0 {
			continue
		}
		if !first {
			b = append(b, ' ')
		}
		first = false
		if name := CapName(n); name != "" {
			b = append(b, name...)
		} else {
			b = append(b, "CAP_"...)
			b = appendInt(b, n)
		}
	}
	return b
}

// CapNames is AppendCapNames as a string.
func CapNames(set uint64) string { return string(AppendCapNames(nil, set)) }

// CapByName returns the number of a capability name (CAP_ prefix optional,
// any case).
func CapByName(name string) (int, bool) { return caps.ByName(name) }

func appendInt(b []byte, n int) []byte {
	if n >= 10 {
		b = appendInt(b, n/10)
	}
	return append(b, byte('0'+n%10))
}
