//go:build ignore
// SPDX-License-Identifier: (MIT OR GPL-2.0)
/*
 * Syscall sensor: privilege.change, namespace.change, kernel.module_load,
 * bpf.load and process.ptrace, on the entry tracepoints of the syscalls that do
 * them. Each program is attached only while a rule needs its event, and only for
 * the events BPF LSM hooks do not carry (all but namespace.change where BPF LSM
 * works: see lsm.bpf.c). Tracepoints see the request, not its outcome, and
 * cannot refuse it.
 */
#include "sys.h"

char __license[] SEC("license") = "Dual MIT/GPL";

#define PTRACE_SEIZE 0x4206
#define CLONE_NEW_MASK (0x00020000 | 0x02000000 | 0x04000000 | 0x08000000 | 0x10000000 | 0x20000000 | 0x40000000 | 0x00000080)

/* args copies the syscall arguments: direct ctx loads at computed offsets are refused. */
#define ARGS(ctx, a) unsigned long a[3]; bpf_probe_read_kernel(a, sizeof(a), &(ctx)->args[0])

/* A raise to uid/gid 0 by a process whose effective id is not 0 (-1 = unchanged). */
static __always_inline int raises(unsigned long a, __u32 cur)
{
	return (int)a == 0 && cur != 0;
}

/*
 * A set*id call asking for id 0 in one of its first n arguments while the
 * effective id (uid, or gid) is not 0. Tracepoints see the request: the LSM and
 * fmod_ret hooks see the credentials actually committed.
 */
static __always_inline int on_setid(struct trace_event_raw_sys_enter *ctx, long nr, const int gid, const int n)
{
	ARGS(ctx, a);
	struct task_struct *t = (struct task_struct *)bpf_get_current_task_btf();
	__u32 e = gid ? BPF_CORE_READ(t, cred, egid.val) : BPF_CORE_READ(t, cred, euid.val);
	if (!raises(a[0], e) && !(n > 1 && raises(a[1], e)) && !(n > 2 && raises(a[2], e)))
		return 0;
	on_sys(EV_PRIVILEGE_CHANGE, HOOK_SYSCALL, nr, a[0], n > 1 ? a[1] : 0, n > 2 ? a[2] : 0, 0);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_setuid")
int sys_setuid(struct trace_event_raw_sys_enter *ctx) { return on_setid(ctx, NR_setuid, 0, 1); }

SEC("tracepoint/syscalls/sys_enter_setreuid")
int sys_setreuid(struct trace_event_raw_sys_enter *ctx) { return on_setid(ctx, NR_setreuid, 0, 2); }

SEC("tracepoint/syscalls/sys_enter_setresuid")
int sys_setresuid(struct trace_event_raw_sys_enter *ctx) { return on_setid(ctx, NR_setresuid, 0, 3); }

SEC("tracepoint/syscalls/sys_enter_setfsuid")
int sys_setfsuid(struct trace_event_raw_sys_enter *ctx) { return on_setid(ctx, NR_setfsuid, 0, 1); }

SEC("tracepoint/syscalls/sys_enter_setgid")
int sys_setgid(struct trace_event_raw_sys_enter *ctx) { return on_setid(ctx, NR_setgid, 1, 1); }

SEC("tracepoint/syscalls/sys_enter_setregid")
int sys_setregid(struct trace_event_raw_sys_enter *ctx) { return on_setid(ctx, NR_setregid, 1, 2); }

SEC("tracepoint/syscalls/sys_enter_setresgid")
int sys_setresgid(struct trace_event_raw_sys_enter *ctx) { return on_setid(ctx, NR_setresgid, 1, 3); }

SEC("tracepoint/syscalls/sys_enter_setfsgid")
int sys_setfsgid(struct trace_event_raw_sys_enter *ctx) { return on_setid(ctx, NR_setfsgid, 1, 1); }

SEC("tracepoint/syscalls/sys_enter_capset")
int sys_capset(struct trace_event_raw_sys_enter *ctx)
{
	ARGS(ctx, a);
	on_sys(EV_PRIVILEGE_CHANGE, HOOK_SYSCALL, NR_capset, a[0], a[1], 0, 0);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_setns")
int sys_setns(struct trace_event_raw_sys_enter *ctx)
{
	ARGS(ctx, a);
	on_sys(EV_NAMESPACE_CHANGE, HOOK_SYSCALL, NR_setns, a[0], a[1], 0, 0);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_unshare")
int sys_unshare(struct trace_event_raw_sys_enter *ctx)
{
	ARGS(ctx, a);
	if (!(a[0] & CLONE_NEW_MASK))
		return 0;
	on_sys(EV_NAMESPACE_CHANGE, HOOK_SYSCALL, NR_unshare, a[0], 0, 0, 0);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_init_module")
int sys_init_module(struct trace_event_raw_sys_enter *ctx)
{
	ARGS(ctx, a);
	on_sys(EV_MODULE_LOAD, HOOK_SYSCALL, NR_init_module, 0, a[1], 0, 0);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_finit_module")
int sys_finit_module(struct trace_event_raw_sys_enter *ctx)
{
	ARGS(ctx, a);
	on_sys(EV_MODULE_LOAD, HOOK_SYSCALL, NR_finit_module, a[0], 0, a[2], 0);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_bpf")
int sys_bpf(struct trace_event_raw_sys_enter *ctx)
{
	ARGS(ctx, a);
	if (a[0] != BPF_PROG_LOAD_CMD)
		return 0;
	on_sys(EV_BPF_LOAD, HOOK_SYSCALL, NR_bpf, a[0], 0, 0, 0);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_ptrace")
int sys_ptrace(struct trace_event_raw_sys_enter *ctx)
{
	ARGS(ctx, a);
	long req = a[0];
	if (req != PTRACE_ATTACH && req != PTRACE_SEIZE)
		return 0;
	on_sys(EV_PTRACE, HOOK_SYSCALL, NR_ptrace, req, a[1], 0, 0);
	return 0;
}

/* clone and clone3 that create namespaces (clone3 passes its flags in memory). */
SEC("tracepoint/syscalls/sys_enter_clone")
int sys_clone(struct trace_event_raw_sys_enter *ctx)
{
	ARGS(ctx, a);
	if (!(a[0] & CLONE_NEW_MASK))
		return 0;
	on_sys(EV_NAMESPACE_CHANGE, HOOK_SYSCALL, NR_clone, a[0], 0, 0, 0);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_clone3")
int sys_clone3(struct trace_event_raw_sys_enter *ctx)
{
	ARGS(ctx, a);
	__u64 flags = 0;
	if (bpf_probe_read_user(&flags, sizeof(flags), (void *)a[0]))
		return 0;
	if (!(flags & CLONE_NEW_MASK))
		return 0;
	on_sys(EV_NAMESPACE_CHANGE, HOOK_SYSCALL, NR_clone3, flags, 0, 0, 0);
	return 0;
}
