//go:build ignore
// SPDX-License-Identifier: (MIT OR GPL-2.0)
/*
 * BPF LSM sensor: file.open deny. Loaded only on kernels where BPF LSM works (the
 * capability probe decides). The hook runs before the open completes and refuses
 * it with EPERM, on the resolved path of the file being opened: no TOCTOU between
 * what is checked and what is opened. Deny rules are handled here only; the
 * tracepoint sensor reports the others.
 */
#include "alert.h"

char __license[] SEC("license") = "Dual MIT/GPL";

#define EPERM 1
#define O_ACCMODE 00000003
#define O_WRONLY 00000001
#define O_RDWR 00000002

SEC("lsm/file_open")
int BPF_PROG(lsm_file_open, struct file *file, int ret)
{
	/* An earlier BPF LSM program already refused: keep it refused. (Returning ret
	 * itself is rejected by verifiers that want a constant in [-4095, 0].) */
	if (ret)
		return -EPERM;
	struct selector_cfg *sel = get_selector();
	if (!sel || !sel->lsm_rules[KIND_FILE])
		return 0;
	struct task_struct *task = (struct task_struct *)bpf_get_current_task_btf();
	__u64 pt = bpf_get_current_pid_tgid();
	__u32 uid = (__u32)bpf_get_current_uid_gid();
	__u64 pol = policies_for(sel, task, pt >> 32, uid, bpf_get_current_cgroup_id()) & sel->kind_policies[KIND_FILE];
	if (!pol)
		return 0;
	if (sel->top_filter && !top_dir_watched(BPF_CORE_READ(file, f_path.mnt), BPF_CORE_READ(file, f_path.dentry)))
		return 0;
	struct alert_scratch *s = alert_scratch();
	if (!s)
		return 0;
	struct vigil_alert *a = &s->a;
	__u32 trunc = 0;
	a->path_len = resolve_path(BPF_CORE_READ(file, f_path.mnt), BPF_CORE_READ(file, f_path.dentry), a->path, &trunc);
	__u32 n = a->path_len;
	if (n > BIN_KEY - 1)
		n = BIN_KEY - 1;
	bpf_probe_read_kernel(s->key.path, BIN_KEY, a->path);
	s->key.prefixlen = (n + 1) * 8;
	__u64 *m = bpf_map_lookup_elem(&file_paths, &s->key);
	__u32 flags = BPF_CORE_READ(file, f_flags);
	__u32 acc = flags & O_ACCMODE;
	struct match_ctx mc = {
		.kind = KIND_FILE,
		.policies = pol,
		.access = acc == O_WRONLY ? 2 : acc == O_RDWR ? 3 : 1,
		.candidates = ((m ? *m : 0) | sel->any_filter[KIND_FILE]) & sel->lsm_rules[KIND_FILE],
	};
	if (!mc.candidates)
		return 0;
	bpf_loop(MAX_RULES, match_step, &mc, 0);
	if (!mc.any)
		return 0;
	int deny = mc.action == ACT_DENY && mc.enforce;
	fill_alert_task(a, task);
	if (trunc)
		a->hdr.flags |= FLAG_TRUNC_PATH;
	a->kind = KIND_FILE;
	a->event = EV_FILE_OPEN;
	a->access = flags;
	a->family = 0;
	/* Two tails on purpose: with one, clang computes the return as -(deny & 1), a
	 * value whose range the 6.12 verifier cannot see. */
	if (deny) {
		send_alert(a, &mc, 0, 1);
		return -EPERM;
	}
	send_alert(a, &mc, 0, 0);
	return 0;
}
