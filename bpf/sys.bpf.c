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
#include "bpf_endian.h"

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

/* ptrace requests (linux/ptrace.h, x86 asm/ptrace-abi.h). */
#define PTRACE_POKETEXT 4
#define PTRACE_POKEDATA 5
#define PTRACE_POKEUSR 6
#define PTRACE_SETREGS 13
#define PTRACE_SETFPREGS 15
#define PTRACE_SETFPXREGS 19
#define PTRACE_SETREGSET 0x4205

/*
 * process.ptrace: the requests that gain control of a process or change it:
 * TRACEME, ATTACH, SEIZE, the POKEs and the register writes. The others (PEEK*,
 * GET*, CONT, SYSCALL, DETACH, ...) are what a tracer does all the time once
 * attached: they stay in the kernel. ATTACH, SEIZE and TRACEME are left to the
 * security hooks where they carry the rule (ptrace_access_check, which sees more
 * than ATTACH, and ptrace_traceme); the others pass no security hook, so this
 * tracepoint reports them for every rule.
 */
static __always_inline int do_ptrace(const unsigned long *a, long nr, __u32 xflags)
{
	long req = a[0];
	/* What the security hooks see (ptrace_access_check, ptrace_traceme). */
	int on_lsm = req == PTRACE_ATTACH || req == PTRACE_SEIZE || req == PTRACE_TRACEME;
	switch (req) {
	case PTRACE_ATTACH: case PTRACE_SEIZE: case PTRACE_TRACEME: case PTRACE_POKETEXT: case PTRACE_POKEDATA:
	case PTRACE_POKEUSR: case PTRACE_SETREGS: case PTRACE_SETFPREGS: case PTRACE_SETFPXREGS: case PTRACE_SETREGSET:
		break;
	default:
		return 0;
	}
	struct match_ctx mc = {};
	struct vigil_alert *al = sys_begin(&mc, EV_PTRACE, HOOK_SYSCALL, xflags, nr, req, a[1], 0, !on_lsm);
	if (al)
		send_verdict(al, &mc, HOOK_SYSCALL);
	return 0;
}

#define AT_FDCWD -100
#define HALF_PATH (PATH_BUF / 2)

/*
 * file.link and file.symlink: both paths as the process passed them (relative
 * ones are not resolved: the directory descriptors are reported in the
 * arguments), each up to HALF_PATH - 1 bytes, the first in the first half of
 * the path buffer and the second in the other. Reported at entry: the request
 * (link and symlink pass no security hook of this version's sensors).
 */
static __always_inline int do_link(__u8 event, long nr, __u32 xflags, long olddfd, const char *first, long newdfd,
				   const char *second, unsigned long flags)
{
	struct match_ctx mc = {};
	struct vigil_alert *a = sys_begin(&mc, event, HOOK_SYSCALL, xflags, nr, olddfd, newdfd, flags, 0);
	if (!a)
		return 0;
	long n1 = bpf_probe_read_user_str(a->path, HALF_PATH, first);
	if (n1 <= 0)
		a->path[0] = 0;
	long n2 = bpf_probe_read_user_str(&a->path[HALF_PATH], HALF_PATH, second);
	if (n2 <= 0) {
		a->path[HALF_PATH] = 0;
		n2 = 1;
	}
	if (n1 >= HALF_PATH || n2 >= HALF_PATH)
		a->hdr.flags |= FLAG_TRUNC_PATH; /* one of them may have been cut */
	a->path_len = HALF_PATH - 1 + (n2 > HALF_PATH ? HALF_PATH : n2); /* the second path with its NUL */
	send_verdict(a, &mc, HOOK_SYSCALL);
	return 0;
}

/*
 * network.socket: a socket is created (socket_reported, sys.h says which cross).
 */
static __always_inline int do_socket(long family, long type, long proto, long nr, __u32 xflags)
{
	if (!socket_reported(family, type))
		return 0;
	struct match_ctx mc = {};
	struct vigil_alert *a = sys_begin(&mc, EV_NET_SOCKET, HOOK_SYSCALL, xflags, nr, family, type, proto, 0);
	if (!a)
		return 0;
	a->family = family;
	a->protocol = proto;
	send_verdict(a, &mc, HOOK_SYSCALL);
	return 0;
}

#define S_IFMT 00170000
#define S_IFSOCK 0140000
#define F_DUPFD 0
#define F_DUPFD_CLOEXEC 1030

/*
 * fd.dup: a descriptor duplicated onto 0, 1 or 2 that is a socket: newfd is the
 * new descriptor, f the file behind it. Everything else returns after the
 * descriptor test (newfd > 2) or the socket test. The record carries the
 * socket's family, protocol and peer; args are [old fd, new fd, flags or fcntl
 * command, socket type | local port << 16 | IPv4 local address << 32].
 */
static __always_inline int dup_decide(struct file *f, long newfd, long nr, __u32 xflags, unsigned long oldfd,
				      unsigned long arg3)
{
	if (!f)
		return 0;
	umode_t mode = BPF_CORE_READ(f, f_inode, i_mode);
	if ((mode & S_IFMT) != S_IFSOCK)
		return 0;
	struct match_ctx mc = {};
	struct vigil_alert *a = sys_begin(&mc, EV_FD_DUP, HOOK_SYSCALL, xflags, nr, oldfd, newfd, arg3, 0);
	if (!a)
		return 0;
	struct socket *sock = BPF_CORE_READ(f, private_data);
	struct sock *sk = BPF_CORE_READ(sock, sk);
	__u16 family = BPF_CORE_READ(sk, __sk_common.skc_family);
	__u64 stype = BPF_CORE_READ(sk, sk_type);
	__u64 lport = BPF_CORE_READ(sk, __sk_common.skc_num);
	a->family = family;
	a->protocol = BPF_CORE_READ(sk, sk_protocol);
	a->dport = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
	__u64 laddr = 0;
	if (family == AF_INET) {
		__u32 d = BPF_CORE_READ(sk, __sk_common.skc_daddr);
		__builtin_memcpy(a->daddr, &d, 4);
		laddr = BPF_CORE_READ(sk, __sk_common.skc_rcv_saddr);
	} else if (family == AF_INET6) {
		BPF_CORE_READ_INTO(&a->daddr, sk, __sk_common.skc_v6_daddr);
	}
	a->args[3] = (stype & 0xffff) | (lport & 0xffff) << 16 | laddr << 32;
	send_verdict(a, &mc, HOOK_SYSCALL);
	return 0;
}

/* At a dup's exit: ret is the new descriptor, which now holds the duplicated file. */
static __always_inline int do_dup(long ret, long nr, __u32 xflags, unsigned long oldfd, unsigned long arg3)
{
	if (ret < 0 || ret > 2)
		return 0;
	struct task_struct *task = (struct task_struct *)bpf_get_current_task_btf();
	return dup_decide(fd_file(task, ret), ret, nr, xflags, oldfd, arg3);
}

/*
 * lowest_free is the descriptor dup and fcntl(F_DUPFD, min) are about to
 * return when it is below 3 (the lowest one not open, from min on), else 3.
 */
static __always_inline long lowest_free(long min)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task_btf();
	unsigned long *open = BPF_CORE_READ(task, files, fdt, open_fds);
	unsigned long w = ~0UL;
	bpf_probe_read_kernel(&w, sizeof(w), open);
	for (long i = 0; i < 3; i++)
		if (i >= min && !(w & (1UL << i)))
			return i;
	return 3;
}

/* The arguments of the syscall being left, from the task's saved user registers. */
static __always_inline struct pt_regs *user_regs(void)
{
	return (struct pt_regs *)bpf_task_pt_regs((struct task_struct *)bpf_get_current_task_btf());
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

SEC("tracepoint/syscalls/sys_enter_link")
int sys_link(struct trace_event_raw_sys_enter *ctx)
{
	ARGS(ctx, a);
	return do_link(EV_FILE_LINK, NR_link, 0, AT_FDCWD, (const char *)a[0], AT_FDCWD, (const char *)a[1], 0);
}

SEC("tracepoint/syscalls/sys_enter_linkat")
int sys_linkat(struct trace_event_raw_sys_enter *ctx)
{
	unsigned long a[5];
	bpf_probe_read_kernel(a, sizeof(a), &ctx->args[0]);
	return do_link(EV_FILE_LINK, NR_linkat, 0, (int)a[0], (const char *)a[1], (int)a[2], (const char *)a[3], a[4]);
}

SEC("tracepoint/syscalls/sys_enter_symlink")
int sys_symlink(struct trace_event_raw_sys_enter *ctx)
{
	ARGS(ctx, a);
	return do_link(EV_FILE_SYMLINK, NR_symlink, 0, 0, (const char *)a[0], AT_FDCWD, (const char *)a[1], 0);
}

SEC("tracepoint/syscalls/sys_enter_symlinkat")
int sys_symlinkat(struct trace_event_raw_sys_enter *ctx)
{
	ARGS(ctx, a);
	return do_link(EV_FILE_SYMLINK, NR_symlinkat, 0, 0, (const char *)a[0], (int)a[1], (const char *)a[2], 0);
}

SEC("tracepoint/syscalls/sys_enter_socket")
int sys_socket(struct trace_event_raw_sys_enter *ctx)
{
	ARGS(ctx, a);
	return do_socket((int)a[0], (int)a[1], (int)a[2], NR_socket, 0);
}

/* fd.dup on the exits of dup, dup2, dup3 and fcntl(F_DUPFD, F_DUPFD_CLOEXEC). */
SEC("tracepoint/syscalls/sys_exit_dup")
int sys_dup_exit(struct trace_event_raw_sys_exit *ctx)
{
	long ret = ctx->ret;
	if (ret < 0 || ret > 2)
		return 0;
	struct pt_regs *r = user_regs();
	return do_dup(ret, NR_dup, 0, (int)BPF_CORE_READ(r, di), 0);
}

SEC("tracepoint/syscalls/sys_exit_dup2")
int sys_dup2_exit(struct trace_event_raw_sys_exit *ctx)
{
	long ret = ctx->ret;
	if (ret < 0 || ret > 2)
		return 0;
	struct pt_regs *r = user_regs();
	return do_dup(ret, NR_dup2, 0, (int)BPF_CORE_READ(r, di), 0);
}

SEC("tracepoint/syscalls/sys_exit_dup3")
int sys_dup3_exit(struct trace_event_raw_sys_exit *ctx)
{
	long ret = ctx->ret;
	if (ret < 0 || ret > 2)
		return 0;
	struct pt_regs *r = user_regs();
	return do_dup(ret, NR_dup3, 0, (int)BPF_CORE_READ(r, di), (int)BPF_CORE_READ(r, dx));
}

SEC("tracepoint/syscalls/sys_exit_fcntl")
int sys_fcntl_exit(struct trace_event_raw_sys_exit *ctx)
{
	long ret = ctx->ret;
	if (ret < 0 || ret > 2)
		return 0;
	struct pt_regs *r = user_regs();
	unsigned int cmd = BPF_CORE_READ(r, si);
	if (cmd != F_DUPFD && cmd != F_DUPFD_CLOEXEC)
		return 0;
	return do_dup(ret, NR_fcntl, 0, (int)BPF_CORE_READ(r, di), cmd);
}

/*
 * fd.dup for 32-bit syscalls, which the exit tracepoints above skip: decided at
 * entry on the raw sys_enter program that the other ia32 events share (a raw
 * sys_exit program would run for every syscall of every task). The new
 * descriptor is the one asked for (dup2, dup3) or the one the call is about to
 * take (dup, fcntl F_DUPFD: the lowest free from the minimum on), the file the
 * one duplicated.
 */
static __always_inline int compat_dup(long id, const unsigned long *a)
{
	long oldfd = (int)a[0], newfd;
	unsigned long arg3 = 0;
	switch (id) {
	case NR32_dup2:
		newfd = (int)a[1];
		break;
	case NR32_dup3:
		newfd = (int)a[1];
		arg3 = (__u32)a[2];
		break;
	case NR32_dup:
		newfd = lowest_free(0);
		break;
	default: /* fcntl, fcntl64 */
		if (a[1] != F_DUPFD && a[1] != F_DUPFD_CLOEXEC)
			return 0;
		arg3 = a[1];
		newfd = lowest_free((int)a[2]);
	}
	if (newfd < 0 || newfd > 2 || newfd == oldfd)
		return 0;
	struct task_struct *task = (struct task_struct *)bpf_get_current_task_btf();
	return dup_decide(fd_file(task, oldfd), newfd, id, FLAG_COMPAT, oldfd, arg3);
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
	case NR32_link: case NR32_linkat: case NR32_symlink: case NR32_symlinkat: case NR32_socket: case NR32_socketcall:
	case NR32_dup: case NR32_dup2: case NR32_dup3: case NR32_fcntl: case NR32_fcntl64:
		break;
	default:
		return 0;
	}
	if (!in_ia32_syscall())
		return 0;
	unsigned long a[3] = {(__u32)regs->bx, (__u32)regs->cx, (__u32)regs->dx};
	const __u32 c = FLAG_COMPAT;
	switch (id) {
	case NR32_link:
		return do_link(EV_FILE_LINK, id, c, AT_FDCWD, (const char *)a[0], AT_FDCWD, (const char *)a[1], 0);
	case NR32_linkat: /* olddfd, oldpath, newdfd, newpath, flags: the last two in esi, edi */
		return do_link(EV_FILE_LINK, id, c, (int)a[0], (const char *)a[1], (int)a[2], (const char *)(unsigned long)(__u32)regs->si,
			       (__u32)regs->di);
	case NR32_symlink:
		return do_link(EV_FILE_SYMLINK, id, c, 0, (const char *)a[0], AT_FDCWD, (const char *)a[1], 0);
	case NR32_symlinkat:
		return do_link(EV_FILE_SYMLINK, id, c, 0, (const char *)a[0], (int)a[1], (const char *)a[2], 0);
	case NR32_socket:
		return do_socket((int)a[0], (int)a[1], (int)a[2], id, c);
	case NR32_dup: case NR32_dup2: case NR32_dup3: case NR32_fcntl: case NR32_fcntl64:
		return compat_dup(id, a);
	case NR32_socketcall: {
		if (a[0] != SYS_SOCKET)
			return 0;
		__u32 sa[3];
		if (bpf_probe_read_user(sa, sizeof(sa), (void *)a[1]))
			return 0;
		return do_socket((int)sa[0], (int)sa[1], (int)sa[2], id, c);
	}
	}
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

