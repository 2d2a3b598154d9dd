//go:build ignore
// SPDX-License-Identifier: (MIT OR GPL-2.0)
/*
 * BPF LSM sensor (or its fmod_ret build, below): file.open, file.write, file.unlink, file.rename, file.chmod,
 * process.exec deny, and the syscall-kind events privilege.change,
 * kernel.module_load, bpf.load, process.ptrace and network.socket (the decisions are in
 * hooks.h). Loaded where BPF LSM works, or as its fmod_ret build where only BPF
 * trampolines do (the capability probe decides). Each hook runs on the object itself
 * (the file being opened, the credentials about to be committed): a deny
 * refuses the operation with EPERM, with no TOCTOU between what is checked and
 * what is done. Where it is loaded it carries every rule it can (the lsm_rules
 * masks), so the syscall-exit hook and the syscall tracepoints, which slow every
 * syscall, are not attached for them. Hook arguments are BTF pointers: their
 * fields are read with direct loads.
 */
#include "hooks.h"
#include "exe.h"

char __license[] SEC("license") = "Dual MIT/GPL";

/*
 * Built twice: as BPF LSM programs (lsm/HOOK), and with VIGIL_FMOD_RET as
 * fmod_ret programs on the kernel's security_HOOK functions, which the verifier
 * lets any BPF trampoline kernel override: the same decisions and the same
 * denies on kernels whose BPF LSM is not active (CONFIG_BPF_LSM off, or "bpf"
 * missing from lsm=, as on many distribution kernels). The programs have the
 * same names in both builds. Each gets the hook's arguments and, last, the
 * return value so far.
 */
#ifdef VIGIL_FMOD_RET
#define HOOK_SEC(hook, fn) SEC("fmod_ret/" #fn)
#define THIS_HOOK HOOK_FMODRET
#else
#define HOOK_SEC(hook, fn) SEC("lsm/" #hook)
#define THIS_HOOK HOOK_LSM
#endif

#define EPERM 1

HOOK_SEC(file_open, security_file_open)
int BPF_PROG(lsm_file_open, struct file *file, int ret)
{
	/* An earlier BPF LSM program already refused: keep it refused. (Returning ret
	 * itself is rejected by verifiers that want a constant in [-4095, 0].) */
	if (ret)
		return -EPERM;
	return hook_file_open(file, THIS_HOOK) == 2 ? -EPERM : 0;
}

HOOK_SEC(path_unlink, security_path_unlink)
int BPF_PROG(lsm_path_unlink, const struct path *dir, struct dentry *dentry, int ret)
{
	if (ret)
		return -EPERM;
	if (on_path(dir->mnt, dentry, EV_FILE_UNLINK, 0, 0, THIS_HOOK) == 2)
		return -EPERM;
	return 0;
}

HOOK_SEC(path_chmod, security_path_chmod)
int BPF_PROG(lsm_path_chmod, const struct path *path, umode_t mode, int ret)
{
	if (ret)
		return -EPERM;
	if (on_path(path->mnt, path->dentry, EV_FILE_CHMOD, 0, mode, THIS_HOOK) == 2)
		return -EPERM;
	return 0;
}

/* A rename matches on its old path, or else on its new one (access 1 = new). */
HOOK_SEC(path_rename, security_path_rename)
int BPF_PROG(lsm_path_rename, const struct path *old_dir, struct dentry *old_dentry, const struct path *new_dir,
	     struct dentry *new_dentry, unsigned int flags, int ret)
{
	if (ret)
		return -EPERM;
	int r = on_path(old_dir->mnt, old_dentry, EV_FILE_RENAME, 0, 0, THIS_HOOK);
	if (r == 0)
		r = on_path(new_dir->mnt, new_dentry, EV_FILE_RENAME, 0, 1, THIS_HOOK);
	if (r == 2)
		return -EPERM;
	return 0;
}

/*
 * process.exec deny: the binary about to be executed, resolved from the opened
 * file. Runs before the point of no return, so a deny makes execve fail with
 * EPERM. The selector sees the calling process (the old image).
 */
HOOK_SEC(bprm_check_security, security_bprm_check)
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
	/* By path or by identity (a bind mount); exe_flags rules test access. */
	struct exe_id id;
	__u32 xflags = exe_inspect(f, &id);
	bins |= exec_identity_rules(&id);
	struct match_ctx mc = {
		.kind = KIND_EXEC,
		.event = EV_PROCESS_EXEC,
		.policies = pol,
		.candidates = (bins | sel->any_filter[KIND_EXEC]) & sel->lsm_rules[KIND_EXEC],
		.access = xflags,
	};
	task_keys_filter_at(sel, task, &mc, 1); /* parent names and tty; no name or capability keys here */
	if (!mc.candidates)
		return 0;
	match_rules(&mc);
	if (!mc.any)
		return 0;
	fill_alert_task(a, task);
	if (trunc)
		a->hdr.flags |= FLAG_TRUNC_PATH;
	a->hdr.flags |= hook_flag(THIS_HOOK);
	a->kind = KIND_EXEC;
	a->event = EV_PROCESS_EXEC;
	a->access = 0;
	a->family = 0;
	/* Not send_verdict: through it, 6.12's verifier rejected this program's
	 * return value as unbounded ("should have been in [-4095, 0]"). */
	if (mc.action == ACT_DENY && mc.enforce) {
		send_alert(a, &mc, 0, 1);
		return -EPERM;
	}
	send_alert(a, &mc, 0, 0);
	return 0;
}

/* file.write: a deny makes the write fail with EPERM, also on a descriptor opened earlier. */
HOOK_SEC(file_permission, security_file_permission)
int BPF_PROG(lsm_file_permission, struct file *file, int mask, int ret)
{
	if (ret)
		return -EPERM;
	return hook_file_permission(file, mask, THIS_HOOK) == 2 ? -EPERM : 0;
}

/* privilege.change: a deny makes the set*id call fail with EPERM. */
HOOK_SEC(task_fix_setuid, security_task_fix_setuid)
int BPF_PROG(lsm_task_fix_setuid, struct cred *new, const struct cred *old, int flags, int ret)
{
	if (ret)
		return -EPERM;
	return hook_setuid(new, old, flags, THIS_HOOK) == 2 ? -EPERM : 0;
}

HOOK_SEC(task_fix_setgid, security_task_fix_setgid)
int BPF_PROG(lsm_task_fix_setgid, struct cred *new, const struct cred *old, int flags, int ret)
{
	if (ret)
		return -EPERM;
	return hook_setgid(new, old, flags, THIS_HOOK) == 2 ? -EPERM : 0;
}

HOOK_SEC(capset, security_capset)
int BPF_PROG(lsm_capset, struct cred *new, const struct cred *old, const kernel_cap_t *effective,
	     const kernel_cap_t *inheritable, const kernel_cap_t *permitted, int ret)
{
	if (ret)
		return -EPERM;
	return hook_capset(old, effective, inheritable, permitted, THIS_HOOK) == 2 ? -EPERM : 0;
}

/* process.ptrace: a deny fails the attach with EPERM. */
HOOK_SEC(ptrace_access_check, security_ptrace_access_check)
int BPF_PROG(lsm_ptrace_access_check, struct task_struct *child, unsigned int mode, int ret)
{
	if (ret)
		return -EPERM;
	return hook_ptrace(child, mode, THIS_HOOK) == 2 ? -EPERM : 0;
}

/* process.ptrace: a deny fails PTRACE_TRACEME with EPERM. */
HOOK_SEC(ptrace_traceme, security_ptrace_traceme)
int BPF_PROG(lsm_ptrace_traceme, struct task_struct *parent, int ret)
{
	if (ret)
		return -EPERM;
	return hook_ptrace_traceme(THIS_HOOK) == 2 ? -EPERM : 0;
}

/* network.socket: a deny fails socket(2) with EPERM. */
HOOK_SEC(socket_create, security_socket_create)
int BPF_PROG(lsm_socket_create, int family, int type, int protocol, int kern, int ret)
{
	if (ret)
		return -EPERM;
	return hook_socket_create(family, type, protocol, kern, THIS_HOOK) == 2 ? -EPERM : 0;
}

/* kernel.module_load: a deny fails finit_module / init_module with EPERM. */
HOOK_SEC(kernel_read_file, security_kernel_read_file)
int BPF_PROG(lsm_kernel_read_file, struct file *file, int id, bool contents, int ret)
{
	if (ret)
		return -EPERM;
	return hook_kernel_read_file(file, id, THIS_HOOK) == 2 ? -EPERM : 0;
}

HOOK_SEC(kernel_load_data, security_kernel_load_data)
int BPF_PROG(lsm_kernel_load_data, int id, bool contents, int ret)
{
	if (ret)
		return -EPERM;
	return hook_kernel_load_data(id, THIS_HOOK) == 2 ? -EPERM : 0;
}

/*
 * bpf.load: a deny fails bpf(BPF_PROG_LOAD) with EPERM. The hook gained an
 * argument in 6.14: only the leading arguments, the same on every kernel, are
 * declared (and so not the trailing return value).
 */
HOOK_SEC(bpf, security_bpf)
int BPF_PROG(lsm_bpf, int cmd, union bpf_attr *attr, unsigned int size)
{
	return hook_bpf(cmd, attr, THIS_HOOK) == 2 ? -EPERM : 0;
}
