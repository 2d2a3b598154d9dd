//go:build ignore
// SPDX-License-Identifier: (MIT OR GPL-2.0)
/*
 * File sensor: file.open on the exit of open/openat/openat2/creat. The path is the
 * resolved absolute path of the file actually opened (walked from the new file
 * descriptor), so relative paths, "..", and symlinks cannot dodge a rule. Events
 * that match no rule are dropped here, before the path walk when no policy
 * selects the process.
 */
#include "alert.h"

char __license[] SEC("license") = "Dual MIT/GPL";



static __always_inline int on_open(long fd, __u32 xflags)
{
	if (fd < 0)
		return 0;
	struct selector_cfg *sel = get_selector();
	if (!sel)
		return 0;
	struct task_struct *task = (struct task_struct *)bpf_get_current_task_btf();
	__u8 emit_all = sel->emit_all;
	__u64 pol = 0;
	if (!emit_all) {
		if (!sel->kind_policies[KIND_FILE])
			return 0;
		if (!(event_rules_of(EV_FILE_OPEN) & ~sel->lsm_rules[KIND_FILE]))
			return 0; /* no file.open rule on this hook (only writes, or all in LSM) */
		pol = current_policies(sel, task, KIND_FILE);
		if (!pol)
			return 0; /* no policy selects this process: no path walk */
	}
	struct file *f = fd_file(task, fd);
	if (!f)
		return 0;
	if (!emit_all && sel->top_filter && !top_dir_watched(RD(struct file, f, f_path.mnt), RD(struct file, f, f_path.dentry)))
		return 0;
	struct alert_scratch *s = alert_scratch();
	if (!s)
		return 0;
	struct vigil_alert *a = &s->a;
	__u32 trunc = 0;
	__u64 paths = file_rules(s, f, &trunc);
	__u32 flags = RD(struct file, f, f_flags);
	struct match_ctx mc = {.kind = KIND_FILE, .event = EV_FILE_OPEN, .access = open_access(flags), .policies = pol};
	if (!emit_all) {
		/* Deny rules belong to the LSM hook when it is attached: not reported twice. */
		mc.candidates = (paths | sel->any_filter[KIND_FILE]) & ~sel->lsm_rules[KIND_FILE];
		if (!mc.candidates)
			return 0;
		bpf_loop(MAX_RULES, match_step, &mc, 0);
		if (!mc.any)
			return 0;
	}
	fill_alert_task(a, task);
	a->hdr.flags |= xflags;
	if (trunc)
		a->hdr.flags |= FLAG_TRUNC_PATH;
	a->kind = KIND_FILE;
	a->event = EV_FILE_OPEN;
	a->access = flags;
	a->family = 0;
	send_alert(a, &mc, emit_all, 0);
	return 0;
}

/* file.write after a successful write to fd (reported with the file's open flags). */
static __always_inline int on_write(long fd, __u32 xflags)
{
	struct selector_cfg *sel = get_selector();
	if (!sel || !sel->kind_policies[KIND_FILE])
		return 0;
	__u64 rules = event_rules_of(EV_FILE_WRITE) & ~sel->lsm_rules[KIND_FILE];
	if (!rules)
		return 0;
	struct task_struct *task = (struct task_struct *)bpf_get_current_task_btf();
	__u64 pol = current_policies(sel, task, KIND_FILE);
	if (!pol)
		return 0;
	struct file *f = fd_file(task, fd);
	if (!f)
		return 0;
	file_decide(sel, task, pol, rules, RD(struct file, f, f_path.mnt), RD(struct file, f, f_path.dentry), EV_FILE_WRITE,
		    2, RD(struct file, f, f_flags), HOOK_SYSCALL, xflags);
	return 0;
}

/* x86_64 syscall numbers of the opens and writes. */
#define NR_open 2
#define NR_openat 257
#define NR_openat2 437
#define NR_creat 85
#define NR_write 1
#define NR_pwrite64 18
#define NR_writev 20
#define NR_pwritev 296
#define NR_pwritev2 328

#define OP_OPEN 1
#define OP_WRITE 2

/* What a syscall number is in the x86_64 table (0: neither an open nor a write). */
static __always_inline int file_op64(long nr)
{
	switch (nr) {
	case NR_openat: case NR_open: case NR_openat2: case NR_creat:
		return OP_OPEN;
	case NR_write: case NR_pwrite64: case NR_writev: case NR_pwritev: case NR_pwritev2:
		return OP_WRITE;
	}
	return 0;
}

/* The same in the ia32 table (compat.h). */
static __always_inline int file_op32(long nr)
{
	switch (nr) {
	case NR32_openat: case NR32_open: case NR32_openat2: case NR32_creat:
		return OP_OPEN;
	case NR32_write: case NR32_pwrite64: case NR32_writev: case NR32_pwritev: case NR32_pwritev2:
		return OP_WRITE;
	}
	return 0;
}

/*
 * One BTF raw tracepoint on syscall exit: cheaper per call than the per-syscall
 * tracepoints (no perf buffer is filled), needs no tracefs, and returns after a
 * few compares for every syscall that is neither an open nor a write. It sees
 * 32-bit syscalls too, with ia32 numbers: a number of either table asks which
 * table the syscall came through (compat.h), so that an ia32 getpid (20) is not
 * taken for an x86_64 writev (20), and ia32 opens and writes are decoded (the
 * descriptor of an ia32 write is in ebx) and flagged FLAG_COMPAT.
 */
SEC("tp_btf/sys_exit")
int BPF_PROG(file_sys_exit, struct pt_regs *regs, long ret)
{
	long nr = regs->orig_ax; /* a BTF pointer: a direct load, no helper call per syscall */
	int op64 = file_op64(nr), op32 = file_op32(nr);
	if (!op64 && !op32)
		return 0;
	int op = op64;
	long fd;
	__u32 xflags = 0;
	if (in_ia32_syscall()) {
		op = op32;
		fd = (int)regs->bx;
		xflags = FLAG_COMPAT;
	} else {
		fd = regs->di;
	}
	if (op == OP_OPEN)
		return on_open(ret, xflags);
	if (op == OP_WRITE && ret > 0)
		return on_write(fd, xflags);
	return 0;
}

/*
 * io_uring: an IORING_OP_OPENAT or OPENAT2 request opens the file inside the
 * kernel, with no open syscall. Its completion (every request completes through
 * the io_uring_complete tracepoint, in a thread of the submitting process: the
 * submitter, or an io_uring worker sharing its descriptor table) carries the new
 * descriptor, which is decided like an open's (kill included), flagged
 * FLAG_IO_URING. An open into a fixed-file slot installs no descriptor (its
 * result is 0): that one is not seen here, only by the security hooks.
 */
SEC("tracepoint/io_uring/io_uring_complete")
int file_io_uring_complete(struct trace_event_raw_io_uring_complete *ctx)
{
	int res = ctx->res;
	if (res < 0)
		return 0;
	__u8 op = BPF_CORE_READ((struct io_kiocb *)ctx->req, opcode);
	if (op != IORING_OP_OPENAT && op != IORING_OP_OPENAT2)
		return 0;
	return on_open(res, FLAG_IO_URING);
}
