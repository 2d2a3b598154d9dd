/* SPDX-License-Identifier: (MIT OR GPL-2.0) */
/*
 * The decisions of the in-kernel hooks on the kernel's security functions
 * (lsm.bpf.c, built as BPF LSM programs or as fmod_ret programs on the
 * security_* functions). They see the resolved object (the file being opened,
 * the credentials about to be committed) instead of a syscall's arguments, and
 * need no syscall tracepoint, which puts every syscall of every task on the
 * kernel's slow path. The rules they carry are those of the lsm_rules masks.
 *
 * Every function returns 0 (no rule), 1 (reported) or 2 (deny: the hook
 * refuses with EPERM).
 */
#ifndef VIGIL_HOOKS_H
#define VIGIL_HOOKS_H

#include "sys.h"

/*
 * on_path decides the file rules of the security hooks (lsm_rules) for one event
 * on a resolved path: file.open on the file being opened, file.write on the file
 * written, and file.unlink, file.rename, file.chmod on the path hooks
 * (CONFIG_SECURITY_PATH), where the dentry and the mount of its directory give
 * the path.
 */
static __always_inline int on_path(struct vfsmount *mnt, struct dentry *dentry, __u8 event, __u32 match_access,
				   __u32 access, const int hook)
{
	struct selector_cfg *sel = get_selector();
	if (!sel || !sel->lsm_rules[KIND_FILE])
		return 0;
	struct task_struct *task = (struct task_struct *)bpf_get_current_task_btf();
	__u64 pol = current_policies(sel, task, KIND_FILE);
	if (!pol)
		return 0;
	return file_decide(sel, task, pol, sel->lsm_rules[KIND_FILE], mnt, dentry, event, match_access, access, hook, 0);
}

/* file.open: the file being opened. */
static __always_inline int hook_file_open(struct file *file, const int hook)
{
	__u32 flags = file->f_flags;
	return on_path(file->f_path.mnt, file->f_path.dentry, EV_FILE_OPEN, open_access(flags), flags, hook);
}

#define MAY_WRITE 0x2

/*
 * file.write: every write to a file whose path a file.write rule names (reads,
 * writes and the other file accesses all pass here; anything but a write
 * returns after one test).
 */
static __always_inline int hook_file_permission(struct file *file, int mask, const int hook)
{
	if (!(mask & MAY_WRITE))
		return 0;
	if (!event_rules_of(EV_FILE_WRITE))
		return 0;
	return on_path(file->f_path.mnt, file->f_path.dentry, EV_FILE_WRITE, 2, file->f_flags, hook);
}

/* The setid flags of task_fix_setuid/task_fix_setgid. */
#define LSM_SETID_ID 1
#define LSM_SETID_RE 2
#define LSM_SETID_RES 4

static __always_inline int raised(__u32 old, __u32 new)
{
	return new == 0 && old != 0;
}

/*
 * privilege.change: the credentials a set*id call is about to commit, so the
 * event is what really changes (not what was asked), for every variant
 * (set[res]uid, setfsuid, and the gid calls). A raise is an id becoming 0 that
 * was not 0.
 */
static __always_inline int hook_setuid(struct cred *new, const struct cred *old, int flags, const int hook)
{
	__u32 nu = BPF_CORE_READ(new, uid.val), ne = BPF_CORE_READ(new, euid.val);
	__u32 ns = BPF_CORE_READ(new, suid.val), nf = BPF_CORE_READ(new, fsuid.val);
	if (!raised(BPF_CORE_READ(old, uid.val), nu) && !raised(BPF_CORE_READ(old, euid.val), ne) &&
	    !raised(BPF_CORE_READ(old, suid.val), ns) && !raised(BPF_CORE_READ(old, fsuid.val), nf))
		return 0;
	long nr = flags == LSM_SETID_ID ? NR_setuid : flags == LSM_SETID_RE ? NR_setreuid
			: flags == LSM_SETID_RES ? NR_setresuid : NR_setfsuid;
	return on_sys(EV_PRIVILEGE_CHANGE, hook, 0, nr, nu, ne, ns, 0);
}

static __always_inline int hook_setgid(struct cred *new, const struct cred *old, int flags, const int hook)
{
	__u32 ng = BPF_CORE_READ(new, gid.val), ne = BPF_CORE_READ(new, egid.val);
	__u32 ns = BPF_CORE_READ(new, sgid.val), nf = BPF_CORE_READ(new, fsgid.val);
	if (!raised(BPF_CORE_READ(old, gid.val), ng) && !raised(BPF_CORE_READ(old, egid.val), ne) &&
	    !raised(BPF_CORE_READ(old, sgid.val), ns) && !raised(BPF_CORE_READ(old, fsgid.val), nf))
		return 0;
	long nr = flags == LSM_SETID_ID ? NR_setgid : flags == LSM_SETID_RE ? NR_setregid
			: flags == LSM_SETID_RES ? NR_setresgid : NR_setfsgid;
	return on_sys(EV_PRIVILEGE_CHANGE, hook, 0, nr, ng, ne, ns, 0);
}

/*
 * capset adding capabilities to any of the three sets. kernel_cap_t is 64 bits
 * on every kernel (two u32 before 6.3, one u64 since): read as 8 bytes.
 */
static __always_inline int hook_capset(const struct cred *old, const kernel_cap_t *effective,
				       const kernel_cap_t *inheritable, const kernel_cap_t *permitted, const int hook)
{
	__u64 ne = 0, ni = 0, np = 0, oe = 0, oi = 0, op = 0;
	bpf_probe_read_kernel(&ne, 8, effective);
	bpf_probe_read_kernel(&ni, 8, inheritable);
	bpf_probe_read_kernel(&np, 8, permitted);
	bpf_probe_read_kernel(&oe, 8, __builtin_preserve_access_index(&old->cap_effective));
	bpf_probe_read_kernel(&oi, 8, __builtin_preserve_access_index(&old->cap_inheritable));
	bpf_probe_read_kernel(&op, 8, __builtin_preserve_access_index(&old->cap_permitted));
	if (!(ne & ~oe) && !(ni & ~oi) && !(np & ~op))
		return 0;
	return on_sys(EV_PRIVILEGE_CHANGE, hook, 0, NR_capset, ne, ni, np, 0);
}

#define PTRACE_MODE_ATTACH 0x02

/*
 * process.ptrace: attach-level access to another process (PTRACE_ATTACH and
 * PTRACE_SEIZE, and the other ways to write into a process: /proc/PID/mem,
 * process_vm_writev, pidfd_getfd), reported with the target's pid.
 */
static __always_inline int hook_ptrace(struct task_struct *child, unsigned int mode, const int hook)
{
	if (!(mode & PTRACE_MODE_ATTACH))
		return 0;
	return on_sys(EV_PTRACE, hook, 0, NR_ptrace, PTRACE_ATTACH, BPF_CORE_READ(child, tgid), mode, 0);
}

/*
 * process.ptrace: PTRACE_TRACEME, reported like the syscall's request (no
 * target: 0); a deny fails it with EPERM.
 */
static __always_inline int hook_ptrace_traceme(const int hook)
{
	return on_sys(EV_PTRACE, hook, 0, NR_ptrace, PTRACE_TRACEME, 0, 0, 0);
}

/*
 * network.socket: a socket a process creates (not the kernel's own), of a
 * family socket_reported lets through; a deny fails socket(2) with EPERM.
 */
static __always_inline int hook_socket_create(int family, int type, int protocol, int kern, const int hook)
{
	if (kern || !socket_reported(family, type))
		return 0;
	struct match_ctx mc = {};
	struct vigil_alert *a = sys_begin(&mc, EV_NET_SOCKET, hook, 0, NR_socket, family, type, protocol, 0);
	if (!a)
		return 0;
	a->family = family;
	a->protocol = protocol;
	return send_verdict(a, &mc, hook);
}

#define READING_MODULE_ID 2
#define LOADING_MODULE_ID 2

/* kernel.module_load from a file (finit_module): reported with the module's path. */
static __always_inline int hook_kernel_read_file(struct file *file, int id, const int hook)
{
	if (id != READING_MODULE_ID)
		return 0;
	return on_sys(EV_MODULE_LOAD, hook, 0, NR_finit_module, 0, 0, 0, file);
}

/* kernel.module_load from memory (init_module). */
static __always_inline int hook_kernel_load_data(int id, const int hook)
{
	if (id != LOADING_MODULE_ID)
		return 0;
	return on_sys(EV_MODULE_LOAD, hook, 0, NR_init_module, 0, 0, 0, 0);
}

/* bpf.load: BPF_PROG_LOAD, reported with the program type and instruction count. */
static __always_inline int hook_bpf(int cmd, union bpf_attr *attr, const int hook)
{
	if (cmd != BPF_PROG_LOAD_CMD)
		return 0;
	return on_sys(EV_BPF_LOAD, hook, 0, NR_bpf, cmd, BPF_CORE_READ(attr, prog_type), BPF_CORE_READ(attr, insn_cnt), 0);
}

#endif
