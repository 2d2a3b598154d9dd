/* SPDX-License-Identifier: (MIT OR GPL-2.0) */
/*
 * The decision for the syscall-kind events (privilege.change, namespace.change,
 * kernel.module_load, bpf.load, process.ptrace), shared by the syscall
 * tracepoints and the BPF LSM hooks. Each rule belongs to one of the two: the
 * in-kernel hooks (BPF LSM, or fmod_ret on the security functions where BPF LSM
 * is not active: lsm.bpf.c) carry the rules in lsm_rules[KIND_SYS], the
 * tracepoints the others.
 */
#ifndef VIGIL_SYS_H
#define VIGIL_SYS_H

#include "alert.h"

/* x86_64 syscall numbers, reported as vigil.syscall.number. */
#define NR_ptrace 101
#define NR_setuid 105
#define NR_setgid 106
#define NR_setreuid 113
#define NR_setregid 114
#define NR_setresuid 117
#define NR_setresgid 119
#define NR_setfsuid 122
#define NR_setfsgid 123
#define NR_capset 126
#define NR_unshare 272
#define NR_init_module 175
#define NR_setns 308
#define NR_finit_module 313
#define NR_bpf 321
#define NR_clone 56
#define NR_clone3 435

#define BPF_PROG_LOAD_CMD 5
#define PTRACE_ATTACH 16

/*
 * on_sys reports a syscall-kind event that a rule matches. nr is the syscall
 * the event comes from (x86_64 number, or the ia32 number with xflags
 * FLAG_COMPAT: a 32-bit syscall), a0..a2 what the event reports, f a file
 * whose path is reported (kernel.module_load from a file), or 0. Returns 0 (no
 * rule), 1 (reported) or 2 (deny: only the in-kernel hooks can refuse).
 */
static __always_inline int on_sys(__u8 event, const int hook, __u32 xflags, long nr, unsigned long a0, unsigned long a1, unsigned long a2,
				  struct file *f)
{
	struct selector_cfg *sel = get_selector();
	if (!sel || !sel->kind_policies[KIND_SYS])
		return 0;
	__u64 lsm_mask = sel->lsm_rules[KIND_SYS];
	__u64 c = event_rules_of(event) & (hook != HOOK_SYSCALL ? lsm_mask : ~lsm_mask);
	if (!c)
		return 0;
	struct task_struct *task = (struct task_struct *)bpf_get_current_task_btf();
	__u64 pol = current_policies(sel, task, KIND_SYS);
	if (!pol)
		return 0;
	struct match_ctx mc = {.kind = KIND_SYS, .event = event, .policies = pol, .candidates = c};
	bpf_loop(MAX_RULES, match_step, &mc, 0);
	if (!mc.any)
		return 0;
	struct alert_scratch *s = alert_scratch();
	if (!s)
		return 0;
	struct vigil_alert *a = &s->a;
	fill_alert_task(a, task);
	a->kind = KIND_SYS;
	a->event = event;
	a->access = (__u32)nr;
	a->args[0] = a0;
	a->args[1] = a1;
	a->args[2] = a2;
	a->args[3] = 0;
	a->family = 0;
	a->path_len = 0;
	a->path[0] = 0;
	a->hdr.flags |= hook_flag(hook) | xflags;
	if (f) {
		__u32 trunc = 0;
		a->path_len = resolve_path(BPF_CORE_READ(f, f_path.mnt), BPF_CORE_READ(f, f_path.dentry), a->path, &trunc);
		if (trunc)
			a->hdr.flags |= FLAG_TRUNC_PATH;
	}
	return send_verdict(a, &mc, hook);
}

#endif
