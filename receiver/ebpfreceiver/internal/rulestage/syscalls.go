package rulestage

// Syscall numbers of the events whose evt.type is told from the record (x86-64,
// and the ia32 table for 32-bit calls).
const (
	nrLink      = 86
	nrSymlink   = 88
	nrLinkat    = 265
	nrSymlinkat = 266
	nrSocket    = 41
	nrDup       = 32
	nrDup2      = 33
	nrDup3      = 292
	nrFcntl     = 72

	nr32Link       = 9
	nr32Symlink    = 83
	nr32Linkat     = 303
	nr32Symlinkat  = 304
	nr32Socket     = 359
	nr32Socketcall = 102
	nr32Dup        = 41
	nr32Dup2       = 63
	nr32Dup3       = 330
	nr32Fcntl      = 55
	nr32Fcntl64    = 221
)

// oCloexec is O_CLOEXEC (dup3's only flag).
const oCloexec = 0o2000000

// sockTypeMask keeps the socket type of socket(2)'s type argument (without
// SOCK_NONBLOCK and SOCK_CLOEXEC).
const sockTypeMask = 0xf

// appendLinkFlags renders linkat's flags: AT_SYMLINK_FOLLOW|AT_EMPTY_PATH.
func appendLinkFlags(b []byte, fl uint64) []byte {
	start := len(b)
	for _, f := range [...]struct {
		bit  uint64
		name string
	}{{0x400, "AT_SYMLINK_FOLLOW"}, {0x1000, "AT_EMPTY_PATH"}} {
		if fl&f.bit != 0 {
			if len(b) > start {
				b = append(b, '|')
			}
			b = append(b, f.name...)
		}
	}
	return b
}
