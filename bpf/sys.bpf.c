//go:build ignore
// SPDX-License-Identifier: (MIT OR GPL-2.0)
/*
 * Syscall sensor: privilege.change, namespace.change, kernel.module_load,
 * bpf.load, process.ptrace, file.link, file.symlink, network.socket and fd.dup,
 * on the raw syscall tracepoints, x86_64 and ia32 syscalls alike: sys_enter_all
 * (at the end) is the one program on sys_enter (dispatch.h), and sys_exit_all
 * (fd.dup) a handler the one program on sys_exit (the file sensor's) tail-calls
 * for dup, dup2, dup3 and fcntl. They are in use while a rule of one of these
 * events is left to the syscall hooks (the security hooks in lsm.bpf.c carry
 * the others), and sys_hooked says which events those are. Syscall hooks see
 * the request, not its outcome, and cannot refuse it.
 */
#include "sys.h"
#include "bpf_endian.h"
#include "dispatch.h"

char __license[] SEC("license") = "Dual MIT/GPL";

#define PTRACE_SEIZE 0x4206
#define CLONE_NEW_MASK (0x00020000 | 0x02000000 | 0x04000000 | 0x08000000 | 0x10000000 | 0x20000000 | 0x40000000 | 0x00000080)


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
static __noinline int do_setid(const unsigned long *a, long nr, const int gid, const int n, __u32 xflags)
{
	struct task_struct *t = (struct task_struct *)bpf_get_current_task_btf();
	__u32 e = gid ? BPF_CORE_READ(t, cred, egid.val) : BPF_CORE_READ(t, cred, euid.val);
	if (!raises(a[0], e) && !(n > 1 && raises(a[1], e)) && !(n > 2 && raises(a[2], e)))
		return 0;
	on_sys(EV_PRIVILEGE_CHANGE, HOOK_SYSCALL, xflags, nr, a[0], n > 1 ? a[1] : 0, n > 2 ? a[2] : 0, 0);
	return 0;
}


/* The decisions of the other syscalls, on their first three arguments. */
static __noinline int do_capset(const unsigned long *a, long nr, __u32 xflags)
{
	on_sys(EV_PRIVILEGE_CHANGE, HOOK_SYSCALL, xflags, nr, a[0], a[1], 0, 0);
	return 0;
}

static __noinline int do_setns(const unsigned long *a, long nr, __u32 xflags)
{
	on_sys(EV_NAMESPACE_CHANGE, HOOK_SYSCALL, xflags, nr, a[0], a[1], 0, 0);
	return 0;
}

/* unshare and clone: flags first (clone's ia32 argument order keeps them first too). */
static __noinline int do_newns(const unsigned long *a, long nr, __u32 xflags)
{
	if (!(a[0] & CLONE_NEW_MASK))
		return 0;
	on_sys(EV_NAMESPACE_CHANGE, HOOK_SYSCALL, xflags, nr, a[0], 0, 0, 0);
	return 0;
}

/* clone3 passes its flags in memory (struct clone_args, the same for both ABIs). */
static __noinline int do_clone3(const unsigned long *a, long nr, __u32 xflags)
{
	__u64 flags = 0;
	if (bpf_probe_read_user(&flags, sizeof(flags), (void *)a[0]))
		return 0;
	if (!(flags & CLONE_NEW_MASK))
		return 0;
	on_sys(EV_NAMESPACE_CHANGE, HOOK_SYSCALL, xflags, nr, flags, 0, 0, 0);
	return 0;
}

static __noinline int do_init_module(const unsigned long *a, long nr, __u32 xflags)
{
	on_sys(EV_MODULE_LOAD, HOOK_SYSCALL, xflags, nr, 0, a[1], 0, 0);
	return 0;
}

static __noinline int do_finit_module(const unsigned long *a, long nr, __u32 xflags)
{
	on_sys(EV_MODULE_LOAD, HOOK_SYSCALL, xflags, nr, a[0], 0, a[2], 0);
	return 0;
}

static __noinline int do_bpf(const unsigned long *a, long nr, __u32 xflags)
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
static __noinline int do_ptrace(const unsigned long *a, long nr, __u32 xflags)
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
struct link_args {
	long olddfd;
	const char *first;
	long newdfd;
	const char *second;
	unsigned long flags;
};

/* (A subprogram: the entry dispatcher calls each handler from its x86_64 and
 * its ia32 switch, and one copy of each keeps it within the jump range.) */
static __noinline int do_link_args(__u8 event, long nr, __u32 xflags, const struct link_args *l)
{
	const char *first = l->first, *second = l->second;
	struct match_ctx mc = {};
	struct vigil_alert *a = sys_begin(&mc, event, HOOK_SYSCALL, xflags, nr, l->olddfd, l->newdfd, l->flags, 0);
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

static __always_inline int do_link(__u8 event, long nr, __u32 xflags, long olddfd, const char *first, long newdfd,
				   const char *second, unsigned long flags)
{
	struct link_args l = {.olddfd = olddfd, .first = first, .newdfd = newdfd, .second = second, .flags = flags};
	return do_link_args(event, nr, xflags, &l);
}

/*
 * network.socket: a socket is created (socket_reported, sys.h says which cross).
 */
static __noinline int do_socket(long family, long type, long proto, long nr, __u32 xflags)
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
static __noinline int do_dup(long ret, long nr, __u32 xflags, unsigned long oldfd, unsigned long arg3)
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

/*
 * The syscall hooks: the raw tracepoint on syscall entry (sys_enter_all) and
 * the fd.dup handler on syscall exit (sys_exit_all) serve every syscall-kind
 * event, x86_64 and ia32 alike, in place of one tracepoint per syscall. A
 * syscall of no interest costs one switch. sys_hooked says which events'
 * rules are on the syscall hooks (the others are on the security hooks, or
 * have no rule): bit 1 << event, set by user space.
 */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} sys_hooked SEC(".maps");

static __always_inline int hooked(__u64 on, __u8 event)
{
	return (on >> (event & 63)) & 1;
}

static __always_inline __u64 hooked_events(void)
{
	__u32 zero = 0;
	__u64 *on = bpf_map_lookup_elem(&sys_hooked, &zero);
	return on ? *on : 0;
}

/* native_event: the event an x86_64 syscall number belongs to (0: none of them). */
static __always_inline __u8 native_event(long id)
{
	switch (id) {
	case NR_setuid: case NR_setfsuid: case NR_setreuid: case NR_setresuid: case NR_setgid: case NR_setfsgid:
	case NR_setregid: case NR_setresgid: case NR_capset:
		return EV_PRIVILEGE_CHANGE;
	case NR_setns: case NR_unshare: case NR_clone: case NR_clone3:
		return EV_NAMESPACE_CHANGE;
	case NR_init_module: case NR_finit_module:
		return EV_MODULE_LOAD;
	case NR_bpf:
		return EV_BPF_LOAD;
	case NR_ptrace:
		return EV_PTRACE;
	case NR_link: case NR_linkat:
		return EV_FILE_LINK;
	case NR_symlink: case NR_symlinkat:
		return EV_FILE_SYMLINK;
	case NR_socket:
		return EV_NET_SOCKET;
	}
	return 0;
}

/* An x86_64 syscall of an event on the syscall hooks: its arguments are rdi, rsi, rdx, r10, r8. */
static __always_inline int native_enter(struct pt_regs *regs, long id, __u8 event)
{
	if (!hooked(hooked_events(), event))
		return 0;
	unsigned long a[5] = {regs->di, regs->si, regs->dx, regs->r10, regs->r8};
	switch (id) {
	case NR_setuid: case NR_setfsuid:
		return do_setid(a, id, 0, 1, 0);
	case NR_setreuid:
		return do_setid(a, id, 0, 2, 0);
	case NR_setresuid:
		return do_setid(a, id, 0, 3, 0);
	case NR_setgid: case NR_setfsgid:
		return do_setid(a, id, 1, 1, 0);
	case NR_setregid:
		return do_setid(a, id, 1, 2, 0);
	case NR_setresgid:
		return do_setid(a, id, 1, 3, 0);
	case NR_capset:
		return do_capset(a, id, 0);
	case NR_setns:
		return do_setns(a, id, 0);
	case NR_unshare: case NR_clone: /* clone and clone3 that create namespaces */
		return do_newns(a, id, 0);
	case NR_clone3:
		return do_clone3(a, id, 0);
	case NR_init_module:
		return do_init_module(a, id, 0);
	case NR_finit_module:
		return do_finit_module(a, id, 0);
	case NR_bpf:
		return do_bpf(a, id, 0);
	case NR_ptrace:
		return do_ptrace(a, id, 0);
	case NR_link:
		return do_link(EV_FILE_LINK, id, 0, AT_FDCWD, (const char *)a[0], AT_FDCWD, (const char *)a[1], 0);
	case NR_linkat:
		return do_link(EV_FILE_LINK, id, 0, (int)a[0], (const char *)a[1], (int)a[2], (const char *)a[3], a[4]);
	case NR_symlink:
		return do_link(EV_FILE_SYMLINK, id, 0, 0, (const char *)a[0], AT_FDCWD, (const char *)a[1], 0);
	case NR_symlinkat:
		return do_link(EV_FILE_SYMLINK, id, 0, 0, (const char *)a[0], (int)a[1], (const char *)a[2], 0);
	case NR_socket:
		return do_socket((int)a[0], (int)a[1], (int)a[2], id, 0);
	}
	return 0;
}

/*
 * fd.dup on the exits of dup, dup2, dup3 and fcntl(F_DUPFD, F_DUPFD_CLOEXEC)
 * onto 0..2: not attached, tail-called by the sys_exit dispatcher (dispatch.h)
 * at the x86_64 slots of these four syscalls.
 */
SEC("tp_btf/sys_exit")
int BPF_PROG(sys_exit_all, struct pt_regs *regs, long ret)
{
	if (ret < 0 || ret > 2)
		return 0;
	long nr = regs->orig_ax;
	switch (nr) {
	case NR_dup: case NR_dup2: case NR_dup3: case NR_fcntl:
		break;
	default:
		return 0;
	}
	if (in_ia32_syscall() || !hooked(hooked_events(), EV_FD_DUP))
		return 0; /* ia32: decided at entry (compat_dup) */
	int oldfd = (int)regs->di;
	switch (nr) {
	case NR_dup: case NR_dup2:
		return do_dup(ret, nr, 0, oldfd, 0);
	case NR_dup3:
		return do_dup(ret, nr, 0, oldfd, (int)regs->dx);
	}
	unsigned int cmd = regs->si;
	if (cmd != F_DUPFD && cmd != F_DUPFD_CLOEXEC)
		return 0;
	return do_dup(ret, nr, 0, oldfd, cmd);
}

/*
 * fd.dup for 32-bit syscalls, which the exit tracepoints above skip: decided at
 * entry on the raw sys_enter program that the other ia32 events share. The new
 * descriptor is the one asked for (dup2, dup3) or the one the call is about to
 * take (dup, fcntl F_DUPFD: the lowest free from the minimum on), the file the
 * one duplicated.
 */
static __noinline int compat_dup(long id, const unsigned long *a)
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

/* compat_enter's answer for a syscall it does not decide (the handlers return 0). */
#define NOT_DECIDED (-1)

/*
 * The same decisions for 32-bit (ia32) syscalls, which the per-syscall
 * tracepoints above never see (compat.h): one raw tracepoint on syscall entry,
 * attached with them, returning after one switch for every other syscall and
 * after the TS_COMPAT test for every 64-bit one. Arguments are ebx, ecx, edx,
 * cut to 32 bits as the kernel's ia32 entry does (16 bits for the old uid/gid
 * calls). Reported with the ia32 number and FLAG_COMPAT.
 */
static __always_inline int compat_enter(struct pt_regs *regs, long id, int *compatp)
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
		return NOT_DECIDED;
	}
	if (*compatp < 0)
		*compatp = in_ia32_syscall();
	if (!*compatp)
		return NOT_DECIDED;
	__u64 on = hooked_events();
	if (!on)
		return NOT_DECIDED;
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
			return NOT_DECIDED; /* the network sensor's (SYS_LISTEN, SYS_ACCEPT) */
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

/* The other sensors' handlers on sys_enter (dispatch.h). */
DISPATCH_MAPS(sys_enter_tails);

/*
 * The one BTF raw tracepoint on syscall entry (dispatch.h): the syscall-kind
 * events here, the other sensors' handlers by tail call.
 */
SEC("tp_btf/sys_enter")
int BPF_PROG(sys_enter_all, struct pt_regs *regs, long id)
{
	int compat = -1;
	__u8 event = native_event(id);
	if (event) {
		compat = in_ia32_syscall();
		if (!compat)
			return native_enter(regs, id, event);
	}
	if (compat_enter(regs, id, &compat) != NOT_DECIDED)
		return 0;
	dispatch(ctx, sys_enter_tails, id, compat);
	return 0;
}
