//go:build linux

package sensor

import (
	"golang.org/x/sys/unix"

	"github.com/vigilsec/vigil/receiver/ebpfreceiver/internal/policy"
)

// Executable flags, mirrored from enum vigil_exe_flags (bpf/exe.h).
var exeFlagBits = map[policy.ExeFlag]uint8{
	policy.ExeMemfd:      uint8(processVigilExeFlagsEXE_MEMFD),
	policy.ExeUpperLayer: uint8(processVigilExeFlagsEXE_UPPER_LAYER),
	policy.ExeSetuid:     uint8(processVigilExeFlagsEXE_SETUID),
	policy.ExeSetgid:     uint8(processVigilExeFlagsEXE_SETGID),
}

// execRule compiles a process.exec rule's binaries and executable flags; it
// returns the flag bits the kernel tests (rule_cfg.access: the exec's file
// must have one of them).
func (c *compiler) execRule(r *policy.Rule, act policy.Action, rs ruleSlot, pslot int) uint8 {
	ur := userExecRule{slot: rs.slot, policy: pslot, paths: r.Binaries, task: taskTestOf(r)}
	if len(r.Binaries) == 0 {
		// Every exec is a candidate; the flags, when set, narrow it.
		c.img.selector.AnyFilter[KindExec] |= rs.bit
	}
	if act == policy.ActionDeny {
		// Only possible with BPF LSM (CheckImplemented): lsm/bprm_check_security.
		c.onLSM(rs)
		c.plan.ExecLSM = true
	}
	for _, b := range r.Binaries {
		c.execEntries = append(c.execEntries, pathEntry{b, true, rs.bit})
		// The same file by identity: a bind mount of it, another mount of its
		// file system, or a path through a symbolic link run the same program.
		if id, ok := exeIdentity(b); ok {
			c.img.execInodes[id] |= rs.bit
			ur.ids = append(ur.ids, id)
		}
	}
	var bits uint8
	for _, f := range r.ExeFlags {
		bits |= exeFlagBits[f]
	}
	ur.flags = bits
	c.rules.userExec = append(c.rules.userExec, ur)
	return bits
}

// exeIdentity is the kernel's identity of the file a path names: its
// superblock's device (the kernel's dev_t, major << 20 | minor) and inode.
// stat reports the same numbers on ordinary file systems; on btrfs
// subvolumes and overlay mounts it may not, and only the path then matches.
func exeIdentity(path string) (processExeId, bool) {
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFREG {
		return processExeId{}, false
	}
	return processExeId{Ino: st.Ino, Dev: kernelDev(st.Dev)}, true
}
