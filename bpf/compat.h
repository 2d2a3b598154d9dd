/* SPDX-License-Identifier: (MIT OR GPL-2.0) */
/*
 * 32-bit (ia32) syscalls on x86-64: `int 0x80`, sysenter or a 32-bit binary
 * enter the kernel through the compat entry, with their own syscall numbers
 * (arch/x86/entry/syscalls/syscall_32.tbl) and arguments in ebx, ecx, edx. The
 * per-syscall tracepoints (syscalls/sys_enter_*) ignore them; the raw
 * sys_enter/sys_exit tracepoints see them with the ia32 number in orig_ax, where
 * the same number means another syscall in the 64-bit table (ia32 getpid is 20,
 * x86-64 writev is 20). The compat entry sets TS_COMPAT in the task's
 * thread_info status for the whole syscall (it is cleared on the way back to
 * user space, after the exit tracepoint), also for `int 0x80` from a 64-bit
 * process, whose code segment stays the 64-bit one: the status, not cs, tells
 * the two tables apart.
 */
#ifndef VIGIL_COMPAT_H
#define VIGIL_COMPAT_H

#include "common.h"

#define TS_COMPAT 0x0002

/* in_ia32_syscall: the current syscall came through the ia32 entry. */
static __always_inline int in_ia32_syscall(void)
{
	struct task_struct *t = (struct task_struct *)bpf_get_current_task_btf();
	if (!bpf_core_field_exists(t->thread_info.status))
		return 0; /* not x86: no ia32 table */
	return (t->thread_info.status & TS_COMPAT) != 0; /* a trusted BTF pointer: a direct load */
}

/* ia32 syscall numbers of what Vigil decodes (syscall_32.tbl). */
#define NR32_write 4
#define NR32_open 5
#define NR32_creat 8
#define NR32_setuid16 23
#define NR32_ptrace 26
#define NR32_setgid16 46
#define NR32_setreuid16 70
#define NR32_setregid16 71
#define NR32_socketcall 102
#define NR32_clone 120
#define NR32_init_module 128
#define NR32_setfsuid16 138
#define NR32_setfsgid16 139
#define NR32_writev 146
#define NR32_setresuid16 164
#define NR32_setresgid16 170
#define NR32_pwrite64 181
#define NR32_capset 185
#define NR32_setreuid 203
#define NR32_setregid 204
#define NR32_setresuid 208
#define NR32_setresgid 210
#define NR32_setuid 213
#define NR32_setgid 214
#define NR32_setfsuid 215
#define NR32_setfsgid 216
#define NR32_openat 295
#define NR32_unshare 310
#define NR32_pwritev 334
#define NR32_setns 346
#define NR32_open_by_handle_at 342
#define NR32_finit_module 350
#define NR32_bpf 357
#define NR32_listen 363
#define NR32_accept4 364
#define NR32_pwritev2 379
#define NR32_clone3 435
#define NR32_openat2 437
#define NR32_link 9
#define NR32_dup 41
#define NR32_fcntl 55
#define NR32_dup2 63
#define NR32_symlink 83
#define NR32_fcntl64 221
#define NR32_linkat 303
#define NR32_symlinkat 304
#define NR32_dup3 330
#define NR32_socket 359

/* socketcall(call, args) calls (linux/net.h). */
#define SYS_SOCKET 1
#define SYS_LISTEN 4
#define SYS_ACCEPT 5
#define SYS_ACCEPT4 18

#endif
