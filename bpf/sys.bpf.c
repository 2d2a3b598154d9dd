//go:build ignore
// SPDX-License-Identifier: (MIT OR GPL-2.0)
/*
 * Syscall sensor: privilege.change, namespace.change, kernel.module_load,
 * bpf.load, process.ptrace, file.link, file.symlink, network.socket and fd.dup,
 * x86_64 and ia32 syscalls alike: sys_exit_all (every event but the x86_64
 * privilege.change) is a handler that the one program on the raw sys_exit
 * tracepoint (the file sensor's) tail-calls, and sys_enter_setid (x86_64
 * privilege.change) runs on the nine set*id and capset syscalls' own
 * tracepoints (sys_enter_all on the raw sys_enter where those cannot attach).
 * They are in use while a rule of one of these events is left to the syscall
 * hooks (the security hooks in lsm.bpf.c carry the others), and sys_hooked
 * says which events those are. Syscall hooks see the request (and on exit its
 * result) and cannot refuse it.
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

/* do_setid's mode: the gid calls (the effective gid is tested), and a
 * decision after the call when the call succeeded and may have changed the
 * effective id (then the id it started from is not known: every id 0 asked for
 * counts as a raise, fail closed). */
#define SETID_GID 1
#define SETID_AFTER 2

/*
 * A set*id call asking for id 0 in one of its first n arguments while the
 * effective id (uid, or gid) is not 0. Tracepoints see the request: the LSM and
 * fmod_ret hooks see the credentials actually committed. The ia32 16-bit calls
 * pass ids already cut to 16 bits (0xffff: unchanged).
 */
static __noinline int do_setid(const unsigned long *a, long nr, const int mode, const int n, __u32 xflags)
{
	struct task_struct *t = (struct task_struct *)bpf_get_current_task_btf();
	__u32 e = (mode & SETID_GID) ? BPF_CORE_READ(t, cred, egid.val) : BPF_CORE_READ(t, cred, euid.val);
	if (mode & SETID_AFTER)
		e = 1;
	if (!raises(a[0], e) && !(n > 1 && raises(a[1], e)) && !(n > 2 && raises(a[2], e)))
		return 0;
	on_sys(EV_PRIVILEGE_CHANGE, HOOK_SYSCALL, xflags, nr, a[0], n > 1 ? a[1] : 0, n > 2 ? a[2] : 0, 0);
	return opaque_zero();
}

/* The decisions of the other syscalls, on their first three arguments. */
static __noinline int do_capset(const unsigned long *a, long nr, __u32 xflags)
{
	on_sys(EV_PRIVILEGE_CHANGE, HOOK_SYSCALL, xflags, nr, a[0], a[1], 0, 0);
	return opaque_zero();
}

static __noinline int do_setns(const unsigned long *a, long nr, __u32 xflags)
{
	on_sys(EV_NAMESPACE_CHANGE, HOOK_SYSCALL, xflags, nr, a[0], a[1], 0, 0);
	return opaque_zero();
}

/* unshare and clone: flags first (clone's ia32 argument order keeps them first too). */
static __noinline int do_newns(const unsigned long *a, long nr, __u32 xflags)
{
	if (!(a[0] & CLONE_NEW_MASK))
		return 0;
	on_sys(EV_NAMESPACE_CHANGE, HOOK_SYSCALL, xflags, nr, a[0], 0, 0, 0);
	return opaque_zero();
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
	return opaque_zero();
}

static __noinline int do_init_module(const unsigned long *a, long nr, __u32 xflags)
{
	on_sys(EV_MODULE_LOAD, HOOK_SYSCALL, xflags, nr, 0, a[1], 0, 0);
	return opaque_zero();
}

static __noinline int do_finit_module(const unsigned long *a, long nr, __u32 xflags)
{
	on_sys(EV_MODULE_LOAD, HOOK_SYSCALL, xflags, nr, a[0], 0, a[2], 0);
	return opaque_zero();
}

static __noinline int do_bpf(const unsigned long *a, long nr, __u32 xflags)
{
	if (a[0] != BPF_PROG_LOAD_CMD)
		return 0;
	on_sys(EV_BPF_LOAD, HOOK_SYSCALL, xflags, nr, a[0], 0, 0, 0);
	return opaque_zero();
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
	return opaque_zero();
}

#define AT_FDCWD -100
#define HALF_PATH (PATH_BUF / 2)

/*
 * file.link and file.symlink: both paths as the process passed them (relative
 * ones are not resolved: the directory descriptors are reported in the
 * arguments), each up to HALF_PATH - 1 bytes, the first in the first half of
 * the path buffer and the second in the other. Decided on exit, on the request
 * (link and symlink pass no security hook of this version's sensors).
 */
struct link_args {
	long olddfd;
	const char *first;
	long newdfd;
	const char *second;
	unsigned long flags;
};

/* (A subprogram: the exit handler calls each one from its x86_64 and its ia32
 * switch, and one copy of each keeps it within the jump range.) */
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
	return opaque_zero();
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
	return opaque_zero();
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
	return opaque_zero();
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
 * The syscall hooks: the raw tracepoint on syscall entry (sys_enter_all,
 * privilege.change) and the handler on syscall exit (sys_exit_all, the others)
 * serve every syscall-kind event, x86_64 and ia32 alike, in place of one
 * tracepoint per syscall. A syscall of no interest costs one switch. sys_hooked says which events'
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

/*
 * The x86_64 set*id calls and capset (privilege.change) are decided on entry:
 * the test is on the effective id the call starts from, which a successful
 * call has replaced by the time it returns. Every other syscall-kind event,
 * and the ia32 set*id calls, are decided on exit (sys_exit_all), where the
 * arguments are still in the saved registers and the paths in the caller's
 * memory: nothing on the raw sys_enter tracepoint, which every syscall of
 * every task would pay for.
 */
static __always_inline int setid64(long id)
{
	switch (id) {
	case NR_setuid: case NR_setfsuid: case NR_setreuid: case NR_setresuid: case NR_setgid: case NR_setfsgid:
	case NR_setregid: case NR_setresgid: case NR_capset:
		return 1;
	}
	return 0;
}

static __always_inline int setid32(long id)
{
	switch (id) {
	case NR32_setuid16: case NR32_setgid16: case NR32_setreuid16: case NR32_setregid16:
	case NR32_setresuid16: case NR32_setresgid16: case NR32_setfsuid16: case NR32_setfsgid16:
	case NR32_setuid: case NR32_setgid: case NR32_setreuid: case NR32_setregid:
	case NR32_setresuid: case NR32_setresgid: case NR32_setfsuid: case NR32_setfsgid: case NR32_capset:
		return 1;
	}
	return 0;
}

/* An x86_64 set*id or capset, on its first three arguments. */
static __always_inline int native_setid(const unsigned long *a, long id)
{
	switch (id) {
	case NR_setuid: case NR_setfsuid:
		return do_setid(a, id, 0, 1, 0);
	case NR_setreuid:
		return do_setid(a, id, 0, 2, 0);
	case NR_setresuid:
		return do_setid(a, id, 0, 3, 0);
	case NR_setgid: case NR_setfsgid:
		return do_setid(a, id, SETID_GID, 1, 0);
	case NR_setregid:
		return do_setid(a, id, SETID_GID, 2, 0);
	case NR_setresgid:
		return do_setid(a, id, SETID_GID, 3, 0);
	case NR_capset:
		return do_capset(a, id, 0);
	}
	return 0;
}

/*
 * The same for ia32: arguments in ebx, ecx, edx, cut to 32 bits as the kernel's
 * ia32 entry does (16 bits for the old uid/gid calls: setuid(0x10000) is
 * setuid(0)). Reported with the ia32 number and FLAG_COMPAT. on_exit: decided
 * after the call (sys_exit_all), which returned ret. A call that failed changed
 * nothing, and setfsuid/setfsgid never change the effective ids: those are
 * decided exactly, on the current effective id. A setuid, setreuid or
 * setresuid (or gid) that succeeded may have replaced it: SETID_AFTER.
 */
static __always_inline int compat_setid(struct pt_regs *regs, long id, const int on_exit, long ret)
{
	unsigned long a[3] = {(__u32)regs->bx, (__u32)regs->cx, (__u32)regs->dx};
	const __u32 c = FLAG_COMPAT;
	int after = on_exit && ret == 0 ? SETID_AFTER : 0;
	switch (id) {
	case NR32_setuid16: case NR32_setgid16: case NR32_setreuid16: case NR32_setregid16:
	case NR32_setresuid16: case NR32_setresgid16: case NR32_setfsuid16: case NR32_setfsgid16:
		a[0] &= 0xffff;
		a[1] &= 0xffff;
		a[2] &= 0xffff;
		break;
	}
	switch (id) {
	case NR32_setuid16: case NR32_setuid:
		return do_setid(a, id, after, 1, c);
	case NR32_setfsuid16: case NR32_setfsuid:
		return do_setid(a, id, 0, 1, c);
	case NR32_setreuid16: case NR32_setreuid:
		return do_setid(a, id, after, 2, c);
	case NR32_setresuid16: case NR32_setresuid:
		return do_setid(a, id, after, 3, c);
	case NR32_setgid16: case NR32_setgid:
		return do_setid(a, id, SETID_GID | after, 1, c);
	case NR32_setfsgid16: case NR32_setfsgid:
		return do_setid(a, id, SETID_GID, 1, c);
	case NR32_setregid16: case NR32_setregid:
		return do_setid(a, id, SETID_GID | after, 2, c);
	case NR32_setresgid16: case NR32_setresgid:
		return do_setid(a, id, SETID_GID | after, 3, c);
	case NR32_capset:
		return do_capset(a, id, c);
	}
	return 0;
}

/*
 * privilege.change on the x86_64 set*id and capset calls, attached to the
 * kernel's per-syscall tracepoints syscalls/sys_enter_NAME of these nine
 * syscalls. Unlike a program on the raw sys_enter tracepoint, which runs on
 * every syscall of every task (dispatch.h), these run only on the syscalls
 * they are attached to: the other syscalls pay the tracepoint's bitmap test.
 * They never fire for ia32 syscalls: ia32's set*id and capset are decided on
 * exit (sys_exit_all, compat_setid). The record holds the syscall number and
 * as many arguments as the syscall has (read with a helper: a direct read past
 * a short record would refuse the attach to the one-argument calls).
 */
struct setid_enter {
	__u64 common;
	int nr;
	int pad;
	unsigned long args[3];
};

static __always_inline int setid_args(long id)
{
	switch (id) {
	case NR_setuid: case NR_setfsuid: case NR_setgid: case NR_setfsgid:
		return 1;
	case NR_setreuid: case NR_setregid: case NR_capset:
		return 2;
	}
	return 3;
}

SEC("tracepoint/syscalls/sys_enter_setuid")
int sys_enter_setid(struct setid_enter *ctx)
{
	long id = ctx->nr;
	if (!setid64(id) || !hooked(hooked_events(), EV_PRIVILEGE_CHANGE))
		return 0;
	unsigned long a[3] = {};
	int n = setid_args(id);
	if (bpf_probe_read_kernel(a, n == 1 ? 8 : n == 2 ? 16 : 24, ctx->args))
		return 0;
	return native_setid(a, id);
}

/*
 * The same on the raw sys_enter tracepoint, x86_64 and ia32 alike, where the
 * per-syscall tracepoints cannot be attached (no tracefs): the one program on
 * syscall entry (dispatch.h), attached while a privilege.change rule is on the
 * syscall hooks. ia32 calls are then decided here, not on exit.
 */
SEC("tp_btf/sys_enter")
int BPF_PROG(sys_enter_all, struct pt_regs *regs, long id)
{
	int n64 = setid64(id), n32 = setid32(id);
	if (!n64 && !n32)
		return 0;
	if (!hooked(hooked_events(), EV_PRIVILEGE_CHANGE))
		return 0;
	if (in_ia32_syscall())
		return n32 ? compat_setid(regs, id, 0, 0) : 0;
	if (!n64)
		return 0;
	unsigned long a[3] = {regs->di, regs->si, regs->dx};
	return native_setid(a, id);
}

/* exit_event: the event an x86_64 syscall number is decided for on exit (0: none). */
static __always_inline __u8 exit_event(long id)
{
	switch (id) {
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
	case NR_dup: case NR_dup2: case NR_dup3: case NR_fcntl:
		return EV_FD_DUP;
	}
	return 0;
}

/* The network sensor's handler for the ia32 socketcalls that are not socket() (dispatch.h). */
DISPATCH_MAPS(sys_exit_next);

/*
 * The ia32 syscalls decided on exit (arguments in ebx, ecx, edx, esi, edi, cut
 * to 32 bits), reported with the ia32 number and FLAG_COMPAT. socketcall (102)
 * multiplexes every socket call: socket() is decided here, the others (accept,
 * listen) by the network sensor's handler, tail-called from sys_exit_next.
 */
static __always_inline int compat_exit(void *ctx, struct pt_regs *regs, long id, long ret)
{
	unsigned long a[3] = {(__u32)regs->bx, (__u32)regs->cx, (__u32)regs->dx};
	const __u32 c = FLAG_COMPAT;
	__u64 on = hooked_events();
	if (id == NR32_socketcall) {
		if (a[0] == SYS_SOCKET && hooked(on, EV_NET_SOCKET)) {
			__u32 sa[3];
			if (bpf_probe_read_user(sa, sizeof(sa), (void *)a[1]))
				return 0;
			return do_socket((int)sa[0], (int)sa[1], (int)sa[2], id, c);
		}
		dispatch(ctx, sys_exit_next, id, 1);
		return 0;
	}
	if (!on)
		return 0;
	if (setid32(id))
		return hooked(on, EV_PRIVILEGE_CHANGE) ? compat_setid(regs, id, 1, ret) : 0;
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
	case NR32_dup: case NR32_dup2:
		return do_dup(ret, id, c, (int)a[0], 0);
	case NR32_dup3:
		return do_dup(ret, id, c, (int)a[0], (__u32)a[2]);
	case NR32_fcntl: case NR32_fcntl64:
		if (a[1] != F_DUPFD && a[1] != F_DUPFD_CLOEXEC)
			return 0;
		return do_dup(ret, id, c, (int)a[0], a[1]);
	case NR32_ptrace:
		return do_ptrace(a, id, c);
	case NR32_unshare:
		return do_newns(a, id, c);
	case NR32_clone: /* the child returns from clone too, with 0: the parent's exit reports it */
		return ret ? do_newns(a, id, c) : 0;
	case NR32_clone3:
		return ret ? do_clone3(a, id, c) : 0;
	case NR32_setns:
		return do_setns(a, id, c);
	case NR32_init_module:
		return do_init_module(a, id, c);
	case NR32_finit_module:
		return do_finit_module(a, id, c);
	case NR32_bpf:
		return do_bpf(a, id, c);
	}
	return 0;
}

/*
 * The syscall-kind events but privilege.change, on syscall exit: not attached,
 * tail-called by the one program on sys_exit (the file sensor's, dispatch.h) at
 * the x86_64 and ia32 slots of these syscalls (user space lists them: the
 * sensor package's exitSlots). The request is what is decided, as on entry;
 * the result is known too (fd.dup needs it: the new descriptor).
 */
/*
 * A syscall that returns one of the kernel's restart codes (ERESTARTSYS 512 to
 * ERESTART_RESTARTBLOCK 516) is run again, or fails with EINTR: its exit is
 * not the request's outcome, and deciding it would report one request once per
 * attempt (a ptrace attach retried while a signal is pending). The attempt that
 * completes is decided.
 */
#define RESTARTING(ret) ((ret) <= -512 && (ret) >= -516)

SEC("tp_btf/sys_exit")
int BPF_PROG(sys_exit_all, struct pt_regs *regs, long ret)
{
	if (RESTARTING(ret))
		return 0;
	long id = regs->orig_ax;
	if (in_ia32_syscall())
		return compat_exit(ctx, regs, id, ret);
	__u8 event = exit_event(id);
	if (!event || !hooked(hooked_events(), event))
		return 0;
	unsigned long a[5] = {regs->di, regs->si, regs->dx, regs->r10, regs->r8};
	switch (id) {
	case NR_setns:
		return do_setns(a, id, 0);
	case NR_unshare:
		return do_newns(a, id, 0);
	case NR_clone: /* the child returns from clone too, with 0: the parent's exit reports it */
		return ret ? do_newns(a, id, 0) : 0;
	case NR_clone3:
		return ret ? do_clone3(a, id, 0) : 0;
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
	case NR_dup: case NR_dup2:
		return do_dup(ret, id, 0, (int)a[0], 0);
	case NR_dup3:
		return do_dup(ret, id, 0, (int)a[0], (int)a[2]);
	case NR_fcntl:
		if (a[1] != F_DUPFD && a[1] != F_DUPFD_CLOEXEC)
			return 0;
		return do_dup(ret, id, 0, (int)a[0], a[1]);
	}
	return 0;
}
