//go:build ignore
// SPDX-License-Identifier: (MIT OR GPL-2.0)
/*
 * BPF LSM sensor: file.open, file.write, file.unlink, file.rename, file.chmod,
 * process.exec deny, and the syscall-kind events privilege.change,
 * kernel.module_load, bpf.load and process.ptrace. Loaded only on kernels where
 * BPF LSM works (the capability probe decides). The hook runs in the open path on the file being
 * opened: a deny refuses it with EPERM, with no TOCTOU between what is checked
 * and what is opened. Where it is loaded it carries every file.open rule (the
 * lsm_rules mask), so the syscall-exit hook, which slows every syscall, is not
 * attached at all.
 */
#include "sys.h"

char __license[] SEC("license") = "Dual MIT/GPL";

#define EPERM 1

/*
 * on_path decides the file rules (lsm_rules) of one event on a resolved path:
 * file.open on the file being opened, and file.unlink, file.rename, file.chmod on
 * the path hooks (CONFIG_SECURITY_PATH), where the dentry and the mount of its
 * directory give the path. match_access is the open's access (read 1, write 2;
 * 0 for the path events), access what the alert reports (open flags, mode, rename
 * side). Returns 0 (no rule), 1 (reported) or 2 (deny: the hook refuses with EPERM).
 */
static __always_inline int on_path(struct vfsmount *mnt, struct dentry *dentry, __u8 event, __u32 match_access,
				   __u32 access)
{
	struct selector_cfg *sel = get_selector();
	if (!sel || !sel->lsm_rules[KIND_FILE])
		return 0;
	struct task_struct *task = (struct task_struct *)bpf_get_current_task_btf();
	__u64 pol = current_policies(sel, task, KIND_FILE);
	if (!pol)
		return 0;
	if (sel->top_filter && !top_dir_watched(mnt, dentry))
		return 0;
	struct alert_scratch *s = alert_scratch();
	if (!s)
		return 0;
	__u32 trunc = 0;
	__u64 paths = path_rules(s, mnt, dentry, &trunc);
	struct match_ctx mc = {
		.kind = KIND_FILE,
		.event = event,
		.policies = pol,
		.access = match_access,
		.candidates = (paths | sel->any_filter[KIND_FILE]) & sel->lsm_rules[KIND_FILE],
	};
	if (!mc.candidates)
		return 0;
	bpf_loop(MAX_RULES, match_step, &mc, 0);
	if (!mc.any)
		return 0;
	struct vigil_alert *a = &s->a;
	fill_alert_task(a, task);
	if (trunc)
		a->hdr.flags |= FLAG_TRUNC_PATH;
	a->hdr.flags |= FLAG_LSM;
	a->kind = KIND_FILE;
	a->event = event;
	a->access = access;
	a->family = 0;
	if (mc.action == ACT_DENY && mc.enforce) {
		send_alert(a, &mc, 0, 1);
		return 2;
	}
	send_alert(a, &mc, 0, 0);
	return 1;
}

SEC("lsm/file_open")
int BPF_PROG(lsm_file_open, struct file *file, int ret)
{
	/* An earlier BPF LSM program already refused: keep it refused. (Returning ret
	 * itself is rejected by verifiers that want a constant in [-4095, 0].) */
	if (ret)
		return -EPERM;
	__u32 flags = file->f_flags;
	if (on_path(file->f_path.mnt, file->f_path.dentry, EV_FILE_OPEN,
		    open_access(flags), flags) == 2)
		return -EPERM;
	return 0;
}

SEC("lsm/path_unlink")
int BPF_PROG(lsm_path_unlink, const struct path *dir, struct dentry *dentry, int ret)
{
	if (ret)
		return -EPERM;
	if (on_path(dir->mnt, dentry, EV_FILE_UNLINK, 0, 0) == 2)
		return -EPERM;
	return 0;
}

SEC("lsm/path_chmod")
int BPF_PROG(lsm_path_chmod, const struct path *path, umode_t mode, int ret)
{
	if (ret)
		return -EPERM;
	if (on_path(path->mnt, path->dentry, EV_FILE_CHMOD, 0, mode) == 2)
		return -EPERM;
	return 0;
}

/* A rename matches on its old path, or else on its new one (access 1 = new). */
SEC("lsm/path_rename")
int BPF_PROG(lsm_path_rename, const struct path *old_dir, struct dentry *old_dentry, const struct path *new_dir,
	     struct dentry *new_dentry, unsigned int flags, int ret)
{
	if (ret)
		return -EPERM;
	int r = on_path(old_dir->mnt, old_dentry, EV_FILE_RENAME, 0, 0);
	if (r == 0)
		r = on_path(new_dir->mnt, new_dentry, EV_FILE_RENAME, 0, 1);
	if (r == 2)
		return -EPERM;
	return 0;
}

/*
 * process.exec deny: the binary about to be executed, resolved from the opened
 * file. Runs before the point of no return, so a deny makes execve fail with
 * EPERM. The selector sees the calling process (the old image).
 */
SEC("lsm/bprm_check_security")
int BPF_PROG(lsm_bprm_check, struct linux_binprm *bprm, int ret)
{
	if (ret)
		return -EPERM;
	struct selector_cfg *sel = get_selector();
	if (!sel || !sel->lsm_rules[KIND_EXEC])
		return 0;
	struct task_struct *task = (struct task_struct *)bpf_get_current_task_btf();
	__u64 pol = current_policies(sel, task, KIND_EXEC);
	if (!pol)
		return 0;
	struct alert_scratch *s = alert_scratch();
	if (!s)
		return 0;
	struct file *f = bprm->file;
	__u32 trunc = 0;
	struct vigil_alert *a = &s->a;
	__u64 bins = path_lookup(s, &exec_binaries, f->f_path.mnt, f->f_path.dentry, &trunc);
	struct match_ctx mc = {
		.kind = KIND_EXEC,
		.event = EV_PROCESS_EXEC,
		.policies = pol,
		.candidates = (bins | sel->any_filter[KIND_EXEC]) & sel->lsm_rules[KIND_EXEC],
	};
	if (!mc.candidates)
		return 0;
	bpf_loop(MAX_RULES, match_step, &mc, 0);
	if (!mc.any)
		return 0;
	fill_alert_task(a, task);
	if (trunc)
		a->hdr.flags |= FLAG_TRUNC_PATH;
	a->hdr.flags |= FLAG_LSM;
	a->kind = KIND_EXEC;
	a->event = EV_PROCESS_EXEC;
	a->access = 0;
	a->family = 0;
	if (mc.action == ACT_DENY && mc.enforce) {
		send_alert(a, &mc, 0, 1);
		return -EPERM;
	}
	send_alert(a, &mc, 0, 0);
	return 0;
}

#define MAY_WRITE 0x2

/*
 * file.write: every write to a file whose path a file.write rule names (read,
 * write, and the other file accesses all pass through this hook; anything but
 * a write returns after one test). A deny makes the write fail with EPERM.
 */
SEC("lsm/file_permission")
int BPF_PROG(lsm_file_permission, struct file *file, int mask, int ret)
{
	if (ret)
		return -EPERM;
	if (!(mask & MAY_WRITE))
		return 0;
	__u32 key = EV_FILE_WRITE;
	__u64 *cand = bpf_map_lookup_elem(&event_rules, &key);
	if (!cand || !*cand)
		return 0;
	if (on_path(file->f_path.mnt, file->f_path.dentry, EV_FILE_WRITE, 2,
		    file->f_flags) == 2)
		return -EPERM;
	return 0;
}

/* x86_64 syscall numbers, reported as vigil.syscall.number. */
#define NR_setuid 105
#define NR_setgid 106
#define NR_setreuid 113
#define NR_setregid 114
#define NR_setresuid 117
#define NR_setresgid 119
#define NR_setfsuid 122
#define NR_setfsgid 123
#define NR_capset 126
#define NR_ptrace 101
#define NR_init_module 175
#define NR_finit_module 313
#define NR_bpf 321

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
 * was not 0. A deny makes the call fail with EPERM.
 */
SEC("lsm/task_fix_setuid")
int BPF_PROG(lsm_task_fix_setuid, struct cred *new, const struct cred *old, int flags, int ret)
{
	if (ret)
		return -EPERM;
	__u32 nu = BPF_CORE_READ(new, uid.val), ne = BPF_CORE_READ(new, euid.val);
	__u32 ns = BPF_CORE_READ(new, suid.val), nf = BPF_CORE_READ(new, fsuid.val);
	if (!raised(BPF_CORE_READ(old, uid.val), nu) && !raised(BPF_CORE_READ(old, euid.val), ne) &&
	    !raised(BPF_CORE_READ(old, suid.val), ns) && !raised(BPF_CORE_READ(old, fsuid.val), nf))
		return 0;
	long nr = flags == LSM_SETID_ID ? NR_setuid : flags == LSM_SETID_RE ? NR_setreuid
			: flags == LSM_SETID_RES ? NR_setresuid : NR_setfsuid;
	return on_sys(EV_PRIVILEGE_CHANGE, 1, nr, nu, ne, ns, 0) == 2 ? -EPERM : 0;
}

SEC("lsm/task_fix_setgid")
int BPF_PROG(lsm_task_fix_setgid, struct cred *new, const struct cred *old, int flags, int ret)
{
	if (ret)
		return -EPERM;
	__u32 ng = BPF_CORE_READ(new, gid.val), ne = BPF_CORE_READ(new, egid.val);
	__u32 ns = BPF_CORE_READ(new, sgid.val), nf = BPF_CORE_READ(new, fsgid.val);
	if (!raised(BPF_CORE_READ(old, gid.val), ng) && !raised(BPF_CORE_READ(old, egid.val), ne) &&
	    !raised(BPF_CORE_READ(old, sgid.val), ns) && !raised(BPF_CORE_READ(old, fsgid.val), nf))
		return 0;
	long nr = flags == LSM_SETID_ID ? NR_setgid : flags == LSM_SETID_RE ? NR_setregid
			: flags == LSM_SETID_RES ? NR_setresgid : NR_setfsgid;
	return on_sys(EV_PRIVILEGE_CHANGE, 1, nr, ng, ne, ns, 0) == 2 ? -EPERM : 0;
}

/*
 * capset adding capabilities to any of the three sets. kernel_cap_t is 64 bits
 * on every kernel (two u32 before 6.3, one u64 since): read as 8 bytes.
 */
SEC("lsm/capset")
int BPF_PROG(lsm_capset, struct cred *new, const struct cred *old, const kernel_cap_t *effective,
	     const kernel_cap_t *inheritable, const kernel_cap_t *permitted, int ret)
{
	if (ret)
		return -EPERM;
	__u64 ne = 0, ni = 0, np = 0, oe = 0, oi = 0, op = 0;
	bpf_probe_read_kernel(&ne, 8, effective);
	bpf_probe_read_kernel(&ni, 8, inheritable);
	bpf_probe_read_kernel(&np, 8, permitted);
	bpf_probe_read_kernel(&oe, 8, __builtin_preserve_access_index(&old->cap_effective));
	bpf_probe_read_kernel(&oi, 8, __builtin_preserve_access_index(&old->cap_inheritable));
	bpf_probe_read_kernel(&op, 8, __builtin_preserve_access_index(&old->cap_permitted));
	if (!(ne & ~oe) && !(ni & ~oi) && !(np & ~op))
		return 0;
	return on_sys(EV_PRIVILEGE_CHANGE, 1, NR_capset, ne, ni, np, 0) == 2 ? -EPERM : 0;
}

#define PTRACE_MODE_ATTACH 0x02
#define PTRACE_ATTACH 16

/*
 * process.ptrace: attach-level access to another process (PTRACE_ATTACH and
 * PTRACE_SEIZE, and the other ways to write into a process: /proc/PID/mem,
 * process_vm_writev, pidfd_getfd). Reported with the target's pid; a deny
 * fails the attach with EPERM.
 */
SEC("lsm/ptrace_access_check")
int BPF_PROG(lsm_ptrace_access_check, struct task_struct *child, unsigned int mode, int ret)
{
	if (ret)
		return -EPERM;
	if (!(mode & PTRACE_MODE_ATTACH))
		return 0;
	return on_sys(EV_PTRACE, 1, NR_ptrace, PTRACE_ATTACH, BPF_CORE_READ(child, tgid), mode, 0) == 2 ? -EPERM : 0;
}

#define READING_MODULE_ID 2
#define LOADING_MODULE_ID 2

/* kernel.module_load from a file (finit_module): reported with the module's path. */
SEC("lsm/kernel_read_file")
int BPF_PROG(lsm_kernel_read_file, struct file *file, int id, bool contents, int ret)
{
	if (ret)
		return -EPERM;
	if (id != READING_MODULE_ID)
		return 0;
	return on_sys(EV_MODULE_LOAD, 1, NR_finit_module, 0, 0, 0, file) == 2 ? -EPERM : 0;
}

/* kernel.module_load from memory (init_module). */
SEC("lsm/kernel_load_data")
int BPF_PROG(lsm_kernel_load_data, int id, bool contents, int ret)
{
	if (ret)
		return -EPERM;
	if (id != LOADING_MODULE_ID)
		return 0;
	return on_sys(EV_MODULE_LOAD, 1, NR_init_module, 0, 0, 0, 0) == 2 ? -EPERM : 0;
}

#define BPF_PROG_LOAD_CMD 5

/*
 * bpf.load: BPF_PROG_LOAD, reported with the program type and instruction
 * count. The hook gained an argument in 6.14: only the leading arguments, the
 * same on every kernel, are declared (and so not the trailing return value).
 */
SEC("lsm/bpf")
int BPF_PROG(lsm_bpf, int cmd, union bpf_attr *attr, unsigned int size)
{
	if (cmd != BPF_PROG_LOAD_CMD)
		return 0;
	return on_sys(EV_BPF_LOAD, 1, NR_bpf, cmd, BPF_CORE_READ(attr, prog_type), BPF_CORE_READ(attr, insn_cnt), 0) == 2
		       ? -EPERM
		       : 0;
}
