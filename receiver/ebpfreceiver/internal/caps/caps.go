// Package caps names the Linux capabilities (linux/capability.h): a leaf
// shared by the event model, which renders capability sets, and the rule
// lowering, which turns capability terms into kernel masks without knowing
// any event source.
package caps

import "strings"

// names are the capability names by number.
var names = [...]string{
	"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL",
	"CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE", "CAP_NET_BIND_SERVICE",
	"CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_IPC_LOCK", "CAP_IPC_OWNER", "CAP_SYS_MODULE",
	"CAP_SYS_RAWIO", "CAP_SYS_CHROOT", "CAP_SYS_PTRACE", "CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT",
	"CAP_SYS_NICE", "CAP_SYS_RESOURCE", "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE",
	"CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL", "CAP_SETFCAP", "CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN",
	"CAP_SYSLOG", "CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ", "CAP_PERFMON", "CAP_BPF",
	"CAP_CHECKPOINT_RESTORE",
}

// Name is the name of capability n ("CAP_SYS_ADMIN"), "" for a number this
// version does not name.
func Name(n int) string {
	if n >= 0 && n < len(names) {
		return names[n]
	}
	return ""
}

// ByName returns the number of a capability name (CAP_ prefix optional, any
// case).
func ByName(name string) (int, bool) {
	u := strings.ToUpper(name)
	if !strings.HasPrefix(u, "CAP_") {
		u = "CAP_" + u
	}
	for i, n := range names {
		if n == u {
			return i, true
		}
	}
	return 0, false
}
