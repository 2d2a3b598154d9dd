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
#define NR_link 86
#define NR_symlink 88
#define NR_linkat 265
#define NR_symlinkat 266
#define NR_socket 41
#define NR_dup 32
#define NR_dup2 33
#define NR_dup3 292
#define NR_fcntl 72

#define BPF_PROG_LOAD_CMD 5
#define PTRACE_TRACEME 0
#define PTRACE_ATTACH 16

#define AF_UNIX 1
#define AF_INET 2
#define AF_INET6 10
#define AF_NETLINK 16
#define SOCK_RAW 3
#define SOCK_PACKET 10
#define SOCK_TYPE_MASK 0xf

/*
 * network.socket: which new sockets are reported. Every connection and name
 * lookup makes a unix, netlink, TCP or UDP socket, so those stay in the kernel;
 * what crosses is every other family (AF_PACKET, AF_BLUETOOTH, AF_ALG,
 * AF_VSOCK, ...) and raw IPv4/IPv6 sockets.
 */
static __always_inline int socket_reported(long family, long type)
{
	int t = type & SOCK_TYPE_MASK;
	switch (family) {
	case AF_UNIX: case AF_NETLINK:
		return 0;
	case AF_INET: case AF_INET6:
		return t == SOCK_RAW || t == SOCK_PACKET;
	}
	return 1;
}

/*
 * sys_begin decides a syscall-kind event: the rules of the event on this hook
 * (hook != HOOK_SYSCALL: those in lsm_rules; a syscall hook: the others, or
 * with all_rules every rule of the event, for what no security hook sees) whose
 * policy selects the current task. On a match it fills the alert's task, event
 * and arguments (nr is the syscall, x86_64 number or the ia32 one with xflags
 * FLAG_COMPAT; a0..a2 what the event reports) and returns it for the caller to
 * complete and send_verdict; else 0.
 */
static __always_inline struct vigil_alert *sys_begin(struct match_ctx *mc, __u8 event, const int hook, __u32 xflags,
						     long nr, unsigned long a0, unsigned long a1, unsigned long a2,
						     const int all_rules)
{
	struct selector_cfg *sel = get_selector();
	if (!sel || !sel->kind_policies[KIND_SYS])
		return 0;
	__u64 lsm_mask = sel->lsm_rules[KIND_SYS];
	__u64 c = event_rules_of(event);
	if (!all_rules)
		c &= hook != HOOK_SYSCALL ? lsm_mask : ~lsm_mask;
	if (!c)
		return 0;
	struct task_struct *task = (struct task_struct *)bpf_get_current_task_btf();
	__u64 pol = current_policies(sel, task, KIND_SYS);
	if (!pol)
		return 0;
	mc->kind = KIND_SYS;
	mc->event = event;
	mc->policies = pol;
	mc->candidates = c;
	task_keys_filter(sel, task, mc);
	if (!mc->candidates)
		return 0;
	match_rules(mc);
	if (!mc->any)
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
	a->dport = 0;
	a->protocol = 0;
	a->path_len = 0;
	a->path[0] = 0;
	a->hdr.flags |= hook_flag(hook) | xflags;
	return a;
}

/*
 * opaque_zero: 0 as the result of a static __noinline function, hidden from
 * the compiler. A subprogram whose every return is the constant 0 has its
 * result propagated to the callers and its own return value dropped, so r0
 * is left as it happens to be at exit; the verifier refuses that when it holds
 * a stack address ("cannot return stack pointer to the caller").
 */
static __always_inline int opaque_zero(void)
{
	int r = 0;
	barrier_var(r);
	return r;
}

/*
 * on_sys reports a syscall-kind event that a rule matches (sys_begin), with the
 * path of f when f is set (kernel.module_load from a file). Returns 0 (no
 * rule), 1 (reported) or 2 (deny: only the in-kernel hooks can refuse).
 */
static __always_inline int on_sys(__u8 event, const int hook, __u32 xflags, long nr, unsigned long a0, unsigned long a1, unsigned long a2,
				  struct file *f)
{
	struct match_ctx mc = {};
	struct vigil_alert *a = sys_begin(&mc, event, hook, xflags, nr, a0, a1, a2, 0);
	if (!a)
		return 0;
	if (f) {
		__u32 trunc = 0;
		a->path_len = resolve_path(BPF_CORE_READ(f, f_path.mnt), BPF_CORE_READ(f, f_path.dentry), a->path, &trunc);
		if (trunc)
			a->hdr.flags |= FLAG_TRUNC_PATH;
	}
	return send_verdict(a, &mc, hook);
}

#endif
