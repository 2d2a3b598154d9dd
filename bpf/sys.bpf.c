//go:build ignore
// SPDX-License-Identifier: (MIT OR GPL-2.0)
/*
 * Syscall sensor: privilege.change, namespace.change, kernel.module_load,
 * bpf.load and process.ptrace, on the entry tracepoints of the syscalls that do
 * them. Each program is attached only while a rule needs its event.
 */
#include "alert.h"

char __license[] SEC("license") = "Dual MIT/GPL";

#define BPF_PROG_LOAD_CMD 5
#define PTRACE_ATTACH 16
#define PTRACE_SEIZE 0x4206
#define CLONE_NEW_MASK (0x00020000 | 0x02000000 | 0x04000000 | 0x08000000 | 0x10000000 | 0x20000000 | 0x40000000 | 0x00000080)

static __always_inline int on_sys(__u8 event, long nr, unsigned long a0, unsigned long a1, unsigned long a2)
{
	struct selector_cfg *sel = get_selector();
	if (!sel || !sel->kind_policies[KIND_SYS])
		return 0;
	__u32 key = event;
	__u64 *cand = bpf_map_lookup_elem(&event_rules, &key);
	if (!cand || !*cand)
		return 0;
	struct task_struct *task = (struct task_struct *)bpf_get_current_task_btf();
	__u64 pol = current_policies(sel, task, KIND_SYS);
	if (!pol)
		return 0;
	struct match_ctx mc = {.kind = KIND_SYS, .event = event, .policies = pol, .candidates = *cand};
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
	send_alert(a, &mc, 0, 0);
	return 0;
}

/* args copies the syscall arguments: direct ctx loads at computed offsets are refused. */
#define ARGS(ctx, a) unsigned long a[3]; bpf_probe_read_kernel(a, sizeof(a), &(ctx)->args[0])

/* A raise to uid/gid 0 by a process whose effective id is not 0 (-1 = unchanged). */
static __always_inline int raises(unsigned long a, __u32 cur)
{
	return (int)a == 0 && cur != 0;
}

SEC("tracepoint/syscalls/sys_enter_setuid")
int sys_setuid(struct trace_event_raw_sys_enter *ctx)
{
	ARGS(ctx, a);
	struct task_struct *t = (struct task_struct *)bpf_get_current_task_btf();
	if (!raises(a[0], BPF_CORE_READ(t, cred, euid.val)))
		return 0;
	return on_sys(EV_PRIVILEGE_CHANGE, 105, a[0], 0, 0);
}

SEC("tracepoint/syscalls/sys_enter_setreuid")
int sys_setreuid(struct trace_event_raw_sys_enter *ctx)
{
	ARGS(ctx, a);
	struct task_struct *t = (struct task_struct *)bpf_get_current_task_btf();
	__u32 e = BPF_CORE_READ(t, cred, euid.val);
	if (!raises(a[0], e) && !raises(a[1], e))
		return 0;
	return on_sys(EV_PRIVILEGE_CHANGE, 113, a[0], a[1], 0);
}

SEC("tracepoint/syscalls/sys_enter_setresuid")
int sys_setresuid(struct trace_event_raw_sys_enter *ctx)
{
	ARGS(ctx, a);
	struct task_struct *t = (struct task_struct *)bpf_get_current_task_btf();
	__u32 e = BPF_CORE_READ(t, cred, euid.val);
	if (!raises(a[0], e) && !raises(a[1], e) && !raises(a[2], e))
		return 0;
	return on_sys(EV_PRIVILEGE_CHANGE, 117, a[0], a[1], a[2]);
}

SEC("tracepoint/syscalls/sys_enter_setgid")
int sys_setgid(struct trace_event_raw_sys_enter *ctx)
{
	ARGS(ctx, a);
	struct task_struct *t = (struct task_struct *)bpf_get_current_task_btf();
	if (!raises(a[0], BPF_CORE_READ(t, cred, egid.val)))
		return 0;
	return on_sys(EV_PRIVILEGE_CHANGE, 106, a[0], 0, 0);
}

SEC("tracepoint/syscalls/sys_enter_capset")
int sys_capset(struct trace_event_raw_sys_enter *ctx)
{
	ARGS(ctx, a);
	return on_sys(EV_PRIVILEGE_CHANGE, 126, a[0], a[1], 0);
}

SEC("tracepoint/syscalls/sys_enter_setns")
int sys_setns(struct trace_event_raw_sys_enter *ctx)
{
	ARGS(ctx, a);
	return on_sys(EV_NAMESPACE_CHANGE, 308, a[0], a[1], 0);
}

SEC("tracepoint/syscalls/sys_enter_unshare")
int sys_unshare(struct trace_event_raw_sys_enter *ctx)
{
	ARGS(ctx, a);
	if (!(a[0] & CLONE_NEW_MASK))
		return 0;
	return on_sys(EV_NAMESPACE_CHANGE, 272, a[0], 0, 0);
}

SEC("tracepoint/syscalls/sys_enter_init_module")
int sys_init_module(struct trace_event_raw_sys_enter *ctx)
{
	ARGS(ctx, a);
	return on_sys(EV_MODULE_LOAD, 175, 0, a[1], 0);
}

SEC("tracepoint/syscalls/sys_enter_finit_module")
int sys_finit_module(struct trace_event_raw_sys_enter *ctx)
{
	ARGS(ctx, a);
	return on_sys(EV_MODULE_LOAD, 313, a[0], 0, a[2]);
}

SEC("tracepoint/syscalls/sys_enter_bpf")
int sys_bpf(struct trace_event_raw_sys_enter *ctx)
{
	ARGS(ctx, a);
	if (a[0] != BPF_PROG_LOAD_CMD)
		return 0;
	return on_sys(EV_BPF_LOAD, 321, a[0], 0, 0);
}

SEC("tracepoint/syscalls/sys_enter_ptrace")
int sys_ptrace(struct trace_event_raw_sys_enter *ctx)
{
	ARGS(ctx, a);
	long req = a[0];
	if (req != PTRACE_ATTACH && req != PTRACE_SEIZE)
		return 0;
	return on_sys(EV_PTRACE, 101, req, a[1], 0);
}
