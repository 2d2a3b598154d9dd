package event

import "strings"

// capNames are the Linux capability names by number (linux/capability.h).
var capNames = [...]string{
	"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL",
	"CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE", "CAP_NET_BIND_SERVICE",
	"CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_IPC_LOCK", "CAP_IPC_OWNER", "CAP_SYS_MODULE",
	"CAP_SYS_RAWIO", "CAP_SYS_CHROOT", "CAP_SYS_PTRACE", "CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT",
	"CAP_SYS_NICE", "CAP_SYS_RESOURCE", "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE",
	"CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL", "CAP_SETFCAP", "CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN",
	"CAP_SYSLOG", "CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ", "CAP_PERFMON", "CAP_BPF",
	"CAP_CHECKPOINT_RESTORE",
}

// CapName is the name of capability n ("CAP_SYS_ADMIN"), "" for a number
// this version does not name.
func CapName(n int) string {
	if n >= 0 && n < len(capNames) {
		return capNames[n]
	}
	return ""
}

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
func CapByName(name string) (int, bool) {
	u := strings.ToUpper(name)
	if !strings.HasPrefix(u, "CAP_") {
		u = "CAP_" + u
	}
	for i, n := range capNames {
		if n == u {
			return i, true
		}
	}
	return 0, false
}

func appendInt(b []byte, n int) []byte {
	if n >= 10 {
		b = appendInt(b, n/10)
	}
	return append(b, byte('0'+n%10))
}
