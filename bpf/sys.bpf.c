//go:build ignore
// SPDX-License-Identifier: (MIT OR GPL-2.0)
/*
 * Syscall sensor: privilege.change, namespace.change, kernel.module_load,
 * bpf.load and process.ptrace, on the entry tracepoints of the syscalls that do
 * them. Each program is attached only while a rule needs its event, and only for
 * the events BPF LSM hooks do not carry (all but namespace.change where BPF LSM
 * works: see lsm.bpf.c). Tracepoints see the request, not its outcome, and
 * cannot refuse it. 32-bit syscalls, which those tracepoints skip, come through
 * one raw sys_enter tracepoint (sys_compat_enter, at the end).
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
 * fmod_ret hooks see the credentials actually committed. The ia32 16-bit calls
 * pass ids already cut to 16 bits (0xffff: unchanged).
 */
static __always_inline int do_setid(const unsigned long *a, long nr, const int gid, const int n, __u32 xflags)
{
	struct task_struct *t = (struct task_struct *)bpf_get_current_task_btf();
	__u32 e = gid ? BPF_CORE_READ(t, cred, egid.val) : BPF_CORE_READ(t, cred, euid.val);
	if (!raises(a[0], e) && !(n > 1 && raises(a[1], e)) && !(n > 2 && raises(a[2], e)))
		return 0;
	on_sys(EV_PRIVILEGE_CHANGE, HOOK_SYSCALL, xflags, nr, a[0], n > 1 ? a[1] : 0, n > 2 ? a[2] : 0, 0);
	return 0;
}

static __always_inline int on_setid(struct trace_event_raw_sys_enter *ctx, long nr, const int gid, const int n)
{
	ARGS(ctx, a);
	return do_setid(a, nr, gid, n, 0);
}

/* The decisions of the other syscalls, on their first three arguments. */
static __always_inline int do_capset(const unsigned long *a, long nr, __u32 xflags)
{
	on_sys(EV_PRIVILEGE_CHANGE, HOOK_SYSCALL, xflags, nr, a[0], a[1], 0, 0);
	return 0;
}

static __always_inline int do_setns(const unsigned long *a, long nr, __u32 xflags)
{
	on_sys(EV_NAMESPACE_CHANGE, HOOK_SYSCALL, xflags, nr, a[0], a[1], 0, 0);
	return 0;
}

/* unshare and clone: flags first (clone's ia32 argument order keeps them first too). */
static __always_inline int do_newns(const unsigned long *a, long nr, __u32 xflags)
{
	if (!(a[0] & CLONE_NEW_MASK))
		return 0;
	on_sys(EV_NAMESPACE_CHANGE, HOOK_SYSCALL, xflags, nr, a[0], 0, 0, 0);
	return 0;
}

/* clone3 passes its flags in memory (struct clone_args, the same for both ABIs). */
static __always_inline int do_clone3(const unsigned long *a, long nr, __u32 xflags)
{
	__u64 flags = 0;
	if (bpf_probe_read_user(&flags, sizeof(flags), (void *)a[0]))
		return 0;
	if (!(flags & CLONE_NEW_MASK))
		return 0;
	on_sys(EV_NAMESPACE_CHANGE, HOOK_SYSCALL, xflags, nr, flags, 0, 0, 0);
	return 0;
}

static __always_inline int do_init_module(const unsigned long *a, long nr, __u32 xflags)
{
	on_sys(EV_MODULE_LOAD, HOOK_SYSCALL, xflags, nr, 0, a[1], 0, 0);
	return 0;
}

static __always_inline int do_finit_module(const unsigned long *a, long nr, __u32 xflags)
{
	on_sys(EV_MODULE_LOAD, HOOK_SYSCALL, xflags, nr, a[0], 0, a[2], 0);
	return 0;
}

static __always_inline int do_bpf(const unsigned long *a, long nr, __u32 xflags)
{
	if (a[0] != BPF_PROG_LOAD_CMD)
		return 0;
	on_sys(EV_BPF_LOAD, HOOK_SYSCALL, xflags, nr, a[0], 0, 0, 0);
	return 0;
}

static __always_inline int do_ptrace(const unsigned long *a, long nr, __u32 xflags)
{
	long req = a[0];
	if (req != PTRACE_ATTACH && req != PTRACE_SEIZE)
		return 0;
	on_sys(EV_PTRACE, HOOK_SYSCALL, xflags, nr, req, a[1], 0, 0);
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
	return do_capset(a, NR_capset, 0);
}

SEC("tracepoint/syscalls/sys_enter_setns")
int sys_setns(struct trace_event_raw_sys_enter *ctx)
{
	ARGS(ctx, a);
	return do_setns(a, NR_setns, 0);
}

SEC("tracepoint/syscalls/sys_enter_unshare")
int sys_unshare(struct trace_event_raw_sys_enter *ctx)
{
	ARGS(ctx, a);
	return do_newns(a, NR_unshare, 0);
}

SEC("tracepoint/syscalls/sys_enter_init_module")
int sys_init_module(struct trace_event_raw_sys_enter *ctx)
{
	ARGS(ctx, a);
	return do_init_module(a, NR_init_module, 0);
}

SEC("tracepoint/syscalls/sys_enter_finit_module")
int sys_finit_module(struct trace_event_raw_sys_enter *ctx)
{
	ARGS(ctx, a);
	return do_finit_module(a, NR_finit_module, 0);
}

SEC("tracepoint/syscalls/sys_enter_bpf")
int sys_bpf(struct trace_event_raw_sys_enter *ctx)
{
	ARGS(ctx, a);
	return do_bpf(a, NR_bpf, 0);
}

SEC("tracepoint/syscalls/sys_enter_ptrace")
int sys_ptrace(struct trace_event_raw_sys_enter *ctx)
{
	ARGS(ctx, a);
	return do_ptrace(a, NR_ptrace, 0);
}

/* clone and clone3 that create namespaces. */
SEC("tracepoint/syscalls/sys_enter_clone")
int sys_clone(struct trace_event_raw_sys_enter *ctx)
{
	ARGS(ctx, a);
	return do_newns(a, NR_clone, 0);
}

SEC("tracepoint/syscalls/sys_enter_clone3")
int sys_clone3(struct trace_event_raw_sys_enter *ctx)
{
	ARGS(ctx, a);
	return do_clone3(a, NR_clone3, 0);
}

/*
 * The same decisions for 32-bit (ia32) syscalls, which the per-syscall
 * tracepoints above never see (compat.h): one raw tracepoint on syscall entry,
 * attached with them, returning after one switch for every other syscall and
 * after the TS_COMPAT test for every 64-bit one. Arguments are ebx, ecx, edx,
 * cut to 32 bits as the kernel's ia32 entry does (16 bits for the old uid/gid
 * calls). Reported with the ia32 number and FLAG_COMPAT.
 */
SEC("tp_btf/sys_enter")
int BPF_PROG(sys_compat_enter, struct pt_regs *regs, long id)
{
	switch (id) {
	case NR32_setuid16: case NR32_setgid16: case NR32_setreuid16: case NR32_setregid16:
	case NR32_setresuid16: case NR32_setresgid16: case NR32_setfsuid16: case NR32_setfsgid16:
	case NR32_setuid: case NR32_setgid: case NR32_setreuid: case NR32_setregid:
	case NR32_setresuid: case NR32_setresgid: case NR32_setfsuid: case NR32_setfsgid:
	case NR32_capset: case NR32_ptrace: case NR32_unshare: case NR32_setns: case NR32_clone:
	case NR32_clone3: case NR32_init_module: case NR32_finit_module: case NR32_bpf:
		break;
	default:
		return 0;
	}
	if (!in_ia32_syscall())
		return 0;
	unsigned long a[3] = {(__u32)regs->bx, (__u32)regs->cx, (__u32)regs->dx};
	const __u32 c = FLAG_COMPAT;
	switch (id) {
	case NR32_setuid16: case NR32_setgid16: case NR32_setreuid16: case NR32_setregid16:
	case NR32_setresuid16: case NR32_setresgid16: case NR32_setfsuid16: case NR32_setfsgid16:
		a[0] &= 0xffff;
		a[1] &= 0xffff;
		a[2] &= 0xffff;
		break;
	}
	switch (id) {
	case NR32_setuid16: case NR32_setuid: case NR32_setfsuid16: case NR32_setfsuid:
		return do_setid(a, id, 0, 1, c);
	case NR32_setreuid16: case NR32_setreuid:
		return do_setid(a, id, 0, 2, c);
	case NR32_setresuid16: case NR32_setresuid:
		return do_setid(a, id, 0, 3, c);
	case NR32_setgid16: case NR32_setgid: case NR32_setfsgid16: case NR32_setfsgid:
		return do_setid(a, id, 1, 1, c);
	case NR32_setregid16: case NR32_setregid:
		return do_setid(a, id, 1, 2, c);
	case NR32_setresgid16: case NR32_setresgid:
		return do_setid(a, id, 1, 3, c);
	case NR32_capset:
		return do_capset(a, id, c);
	case NR32_ptrace:
		return do_ptrace(a, id, c);
	case NR32_unshare: case NR32_clone:
		return do_newns(a, id, c);
	case NR32_setns:
		return do_setns(a, id, c);
	case NR32_clone3:
		return do_clone3(a, id, c);
	case NR32_init_module:
		return do_init_module(a, id, c);
	case NR32_finit_module:
		return do_finit_module(a, id, c);
	case NR32_bpf:
		return do_bpf(a, id, c);
	}
	return 0;
}
