//go:build ignore
// SPDX-License-Identifier: (MIT OR GPL-2.0)
/*
 * BPF LSM sensor for file.open. Loaded only on kernels where BPF LSM works (the
 * capability probe decides). The hook runs in the open path on the file being
 * opened: a deny refuses it with EPERM, with no TOCTOU between what is checked
 * and what is opened. Where it is loaded it carries every file.open rule (the
 * lsm_rules mask), so the syscall-exit hook, which slows every syscall, is not
 * attached at all.
 */
#include "alert.h"

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
	__u32 flags = BPF_CORE_READ(file, f_flags);
	if (on_path(BPF_CORE_READ(file, f_path.mnt), BPF_CORE_READ(file, f_path.dentry), EV_FILE_OPEN,
		    open_access(flags), flags) == 2)
		return -EPERM;
	return 0;
}

SEC("lsm/path_unlink")
int BPF_PROG(lsm_path_unlink, const struct path *dir, struct dentry *dentry, int ret)
{
	if (ret)
		return -EPERM;
	if (on_path(BPF_CORE_READ(dir, mnt), dentry, EV_FILE_UNLINK, 0, 0) == 2)
		return -EPERM;
	return 0;
}

SEC("lsm/path_chmod")
int BPF_PROG(lsm_path_chmod, const struct path *path, umode_t mode, int ret)
{
	if (ret)
		return -EPERM;
	if (on_path(BPF_CORE_READ(path, mnt), BPF_CORE_READ(path, dentry), EV_FILE_CHMOD, 0, mode) == 2)
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
	int r = on_path(BPF_CORE_READ(old_dir, mnt), old_dentry, EV_FILE_RENAME, 0, 0);
	if (r == 0)
		r = on_path(BPF_CORE_READ(new_dir, mnt), new_dentry, EV_FILE_RENAME, 0, 1);
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
	struct file *f = BPF_CORE_READ(bprm, file);
	__u32 trunc = 0;
	struct vigil_alert *a = &s->a;
	__u64 bins = path_lookup(s, &exec_binaries, BPF_CORE_READ(f, f_path.mnt), BPF_CORE_READ(f, f_path.dentry), &trunc);
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
