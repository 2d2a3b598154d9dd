//go:build ignore
// SPDX-License-Identifier: (MIT OR GPL-2.0)
/*
 * File sensor: file.open on the exit of open/openat/openat2/creat/open_by_handle_at. The path is the
 * resolved absolute path of the file actually opened (walked from the new file
 * descriptor), so relative paths, "..", and symlinks cannot dodge a rule. Events
 * that match no rule are dropped here, before the path walk when no policy
 * selects the process.
 */
#include "alert.h"
#include "dispatch.h"

char __license[] SEC("license") = "Dual MIT/GPL";



/* Scan state of a failed open's raw path (in the alert scratch). */
struct raw_scan {
	__u32 len;
	__u32 unclean;
};

/* One byte of the raw path: a "//", "/." or a trailing "/" makes it unclean. */
static long raw_scan_step(__u32 i, struct raw_scan *c)
{
	if (i >= c->len)
		return 1;
	__u32 zero = 0;
	struct alert_scratch *s = bpf_map_lookup_elem(&alert_scratch_map, &zero);
	if (!s)
		return 1;
	if (s->a.raw[i & (RAW_BUF - 1)] != '/')
		return 0;
	char next = i + 1 < c->len ? s->a.raw[(i + 1) & (RAW_BUF - 1)] : 0;
	if (next == '/' || next == '.' || next == 0) {
		c->unclean = 1;
		return 1;
	}
	return 0;
}

/*
 * A failed open (no file, so nothing to resolve) for the rules that ask for
 * failed opens. The path is the one the caller passed (raw). An absolute raw
 * path with no ".", ".." or "//" components is what the path would have been:
 * it is matched like a resolved path. Any other (relative, "..", longer than
 * RAW_BUF) cannot be decided here and fails closed: every such rule is a
 * candidate, user space decides.
 */
__noinline int open_failed(long ret, __u32 xflags, __u32 oflags, __u64 rawp, __u64 pol)
{
	/* A global function (checked once, its stack apart from the caller's). */
	struct selector_cfg *sel = get_selector();
	if (!sel)
		return 0;
	struct task_struct *task = (struct task_struct *)bpf_get_current_task_btf();
	const char *raw = (const char *)rawp;
	__u64 rules = open_statics(sel, sel->failed_rules & ~sel->lsm_rules[KIND_FILE], open_access(oflags), oflags);
	if (!rules || !raw)
		return 0;
	struct alert_scratch *s = alert_scratch();
	if (!s)
		return 0;
	struct vigil_alert *a = &s->a;
	long n = bpf_probe_read_user_str(a->raw, RAW_BUF, raw);
	if (n <= 1)
		return 0;
	if (n < RAW_BUF && (sel->raw_sub_rules & rules))
		rules &= ~sel->raw_sub_rules | substr_found(SUBSTR_RAW, n - 1);
	/* No file: the name filters cannot be decided, their rules stay candidates. */
	struct raw_scan c = {.len = (__u32)(n - 1)};
	if (a->raw[0] == '/' && n < RAW_BUF) {
		bpf_loop(RAW_BUF, raw_scan_step, &c, 0);
		if (!c.unclean) {
			bpf_probe_read_kernel(s->key.path, BIN_KEY, a->raw);
			s->key.prefixlen = n * 8; /* with the NUL, as path_lookup */
			__u64 *m = bpf_map_lookup_elem(&file_paths, &s->key);
			rules &= (m ? *m : 0) | sel->any_filter[KIND_FILE];
		}
	}
	struct match_ctx mc = {.kind = KIND_FILE, .event = EV_FILE_OPEN, .access = open_access(oflags), .oflags = oflags,
			       .policies = pol, .candidates = rules};
	task_keys_filter(sel, task, &mc);
	if (!mc.candidates)
		return 0;
	match_rules(&mc);
	if (!mc.any)
		return 0;
	fill_alert_task(a, task);
	a->hdr.flags |= xflags | FLAG_OPEN_FAILED;
	a->kind = KIND_FILE;
	a->event = EV_FILE_OPEN;
	a->access = oflags;
	a->family = 0;
	a->res = ret;
	a->raw_len = n - 1;
	a->path_len = 0;
	a->path[0] = 0;
	send_alert(a, &mc, 0, 0);
	return 0;
}

/*
 * An open under decision, kept in the scratch between the parts of on_open:
 * the rules still candidates (want), the policies selecting the task, the
 * caller's arguments, and what the pre-filter read.
 */
struct open_state {
	__u64 want;
	__u64 pol;
	__u64 raw;  /* the caller's path argument (user memory), 0: none */
	__u64 ids;  /* rules whose exact file the opened one is (identity) */
	__u64 caps; /* the process's effective capabilities, for match_step (task_prefilter) */
	__u64 ino;
	long rn;    /* bpf_probe_read_user_str's result for the raw path, 0: not read */
	__u32 dev;
	__u32 oflags;
	__u32 xflags;
	__u32 emit_all;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct open_state);
} open_state_map SEC(".maps");

static __always_inline struct open_state *open_state(void)
{
	__u32 zero = 0;
	return bpf_map_lookup_elem(&open_state_map, &zero);
}

/*
 * open_prefilter: the cheap filters of an open, before any path walk (the
 * file's name, its identity, the top directory, the process's keys, the raw
 * path's substrings), on the file at address fp. Leaves the rules that pass
 * in the open state and returns whether any does. A global function: the
 * verifier checks it once, apart from its callers, which keeps the programs
 * that share it within the verifier's budget.
 */
__noinline int open_prefilter(__u64 fp)
{
	struct selector_cfg *sel = get_selector();
	struct alert_scratch *s = alert_scratch();
	struct open_state *o = open_state();
	if (!sel || !s || !o)
		return 0;
	/* The file's name, identity and top directory first (pointer loads and one
	 * map lookup each, no string read for most rules), then the process's keys
	 * (name, parent, tty, capabilities: two hash lookups) on the rules left. */
	__u64 want = o->want;
	struct file *f = (struct file *)fp;
	struct vfsmount *mnt = RD(struct file, f, f_path.mnt);
	struct dentry *dentry = RD(struct file, f, f_path.dentry);
	want = name_filter(sel, s, mnt, dentry, want);
	if (!want)
		return 0;
	if (sel->id_filter) {
		/* An exact rule file reached under another path (hard link, bind mount). */
		__u64 ino = 0;
		__u32 dev = 0;
		file_identity(RD(struct file, f, f_inode), &ino, &dev);
		o->ino = ino;
		o->dev = dev;
		o->ids = id_rules(sel, ino, dev) & want;
	}
	want = top_filter(sel, mnt, dentry, want, o->ids, &s->top_partial);
	if (!want)
		return 0;
	__u64 caps = 0;
	want = task_prefilter(sel, (struct task_struct *)bpf_get_current_task_btf(), KIND_FILE, want, &caps);
	o->caps = caps;
	if (!want)
		return 0;
	long rn = 0;
	want = raw_filter(sel, s, (const char *)o->raw, want, &rn);
	o->rn = rn;
	o->want = want;
	return want != 0;
}

/*
 * open_report: the path walk of an open that passed open_prefilter (or of
 * every open, emit_all), the rules' own filters, and the alert. A global
 * function, like open_prefilter.
 */
__noinline int open_report(__u64 fp, long ret)
{
	struct selector_cfg *sel = get_selector();
	struct alert_scratch *s = alert_scratch();
	struct open_state *o = open_state();
	if (!sel || !s || !o || !fp)
		return 0;
	struct task_struct *task = (struct task_struct *)bpf_get_current_task_btf();
	struct file *f = (struct file *)fp;
	struct vfsmount *mnt = RD(struct file, f, f_path.mnt);
	struct dentry *dentry = RD(struct file, f, f_path.dentry);
	__u8 emit_all = o->emit_all != 0;
	__u32 oflags = o->oflags;
	__u64 want = o->want, ids = o->ids;
	struct vigil_alert *a = &s->a;
	__u32 trunc = 0;
	__u64 paths = path_rules(s, mnt, dentry, &trunc);
	if (trunc)
		paths |= sel->prefix_rules; /* unresolved: fail closed */
	struct match_ctx mc = {.kind = KIND_FILE, .event = EV_FILE_OPEN, .access = open_access(oflags), .oflags = oflags,
			       .policies = o->pol};
	if (!emit_all) {
		/* Deny rules belong to the LSM hook when it is attached: not reported twice. */
		/* want holds the task keys already (open_prefilter). */
		mc.candidates = (paths | ids | sel->any_filter[KIND_FILE]) & want;
		mc.caps = o->caps;
		if (!mc.candidates)
			return 0;
		match_rules(&mc);
		if (!mc.any)
			return 0;
	}
	fill_alert_task(a, task);
	a->hdr.flags |= o->xflags;
	if (trunc)
		a->hdr.flags |= FLAG_TRUNC_PATH;
	if (s->subtree)
		a->hdr.flags |= FLAG_SUBTREE_MOUNT;
	if (mc.matched & ids & ~(paths | sel->any_filter[KIND_FILE]))
		a->hdr.flags |= FLAG_ID_MATCH;
	a->kind = KIND_FILE;
	a->event = EV_FILE_OPEN;
	a->access = oflags;
	a->family = 0;
	__u64 ino = o->ino;
	__u32 dev = o->dev;
	if (!ino)
		file_identity(RD(struct file, f, f_inode), &ino, &dev); /* for the record only */
	a->ino = ino;
	a->dev = dev;
	a->res = ret;
	const char *raw = (const char *)o->raw;
	if (raw && (mc.matched & sel->raw_rules)) {
		long n = o->rn ? o->rn : bpf_probe_read_user_str(a->raw, RAW_BUF, raw);
		if (n > 1)
			a->raw_len = n - 1;
	}
	send_alert(a, &mc, emit_all, 0);
	return 0;
}

/*
 * file.open after an open returned ret (a descriptor, or a negative errno).
 * oflags are the flags the caller asked for (O_CREAT, O_TRUNC and O_EXCL are
 * gone from the file's own flags once it is open), raw the caller's path
 * argument (0: none, as for open_by_handle_at and io_uring).
 */
static __always_inline int on_open(long ret, __u32 xflags, __u32 oflags, const char *raw)
{
	struct selector_cfg *sel = get_selector();
	if (!sel)
		return 0;
	if (ret < 0 && !sel->failed_rules)
		return 0;
	struct task_struct *task = (struct task_struct *)bpf_get_current_task_btf();
	__u8 emit_all = sel->emit_all;
	__u64 pol = 0, want = ~0ULL;
	if (!emit_all) {
		if (!sel->kind_policies[KIND_FILE])
			return 0;
		want = event_rules_of(EV_FILE_OPEN) & ~sel->lsm_rules[KIND_FILE];
		if (ret >= 0)
			want = open_statics(sel, want, open_access(oflags), oflags);
		if (!want)
			return 0; /* no file.open rule on this hook for this open's mode and flags */
		pol = current_policies(sel, task, KIND_FILE);
		if (!pol)
			return 0; /* no policy selects this process: no path walk */
	}
	if (ret < 0) {
		if (emit_all)
			return 0;
		return open_failed(ret, xflags, oflags, (__u64)raw, pol);
	}
	struct file *f = fd_file(task, ret);
	if (!f)
		return 0;
	struct open_state *o = open_state();
	if (!o)
		return 0;
	o->want = want;
	o->pol = pol;
	o->raw = (__u64)raw;
	o->oflags = oflags;
	o->xflags = xflags;
	o->emit_all = emit_all;
	o->ids = 0;
	o->caps = 0;
	o->ino = 0;
	o->dev = 0;
	o->rn = 0;
	if (!emit_all && !open_prefilter((__u64)f))
		return 0;
	return open_report((__u64)f, ret);
}

/* file.write after a successful write to fd (reported with the file's open
 * flags). A global function, like the parts of on_open. */
__noinline int on_write(long fd, __u32 xflags)
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
#define NR_open_by_handle_at 304
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
	case NR_openat: case NR_open: case NR_openat2: case NR_creat: case NR_open_by_handle_at:
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
	case NR32_openat: case NR32_open: case NR32_openat2: case NR32_creat: case NR32_open_by_handle_at:
		return OP_OPEN;
	case NR32_write: case NR32_pwrite64: case NR32_writev: case NR32_pwritev: case NR32_pwritev2:
		return OP_WRITE;
	}
	return 0;
}

#define O_CREAT 00000100
#define O_TRUNC 00001000
#define CREAT_FLAGS (O_CREAT | O_WRONLY | O_TRUNC) /* creat(2) is open(path, these, mode) */

/* open_how.flags of openat2, read from the caller's memory. */
static __always_inline __u32 how_flags(unsigned long how)
{
	__u64 f = 0;
	bpf_probe_read_user(&f, sizeof(f), (void *)how);
	return (__u32)f;
}

/* The requested flags and the path argument of an x86_64 open (regs saved at entry). */
static __always_inline void open_args64(struct pt_regs *regs, long nr, __u32 *oflags, const char **raw)
{
	switch (nr) {
	case NR_open:
		*raw = (const char *)regs->di;
		*oflags = regs->si;
		break;
	case NR_openat:
		*raw = (const char *)regs->si;
		*oflags = regs->dx;
		break;
	case NR_openat2:
		*raw = (const char *)regs->si;
		*oflags = how_flags(regs->dx);
		break;
	case NR_creat:
		*raw = (const char *)regs->di;
		*oflags = CREAT_FLAGS;
		break;
	case NR_open_by_handle_at: /* (mount_fd, handle, flags): no path */
		*oflags = regs->dx;
		break;
	}
}

/* The same for ia32 opens (arguments in ebx, ecx, edx; pointers are 32 bits). */
static __always_inline void open_args32(struct pt_regs *regs, long nr, __u32 *oflags, const char **raw)
{
	switch (nr) {
	case NR32_open:
		*raw = (const char *)(unsigned long)(__u32)regs->bx;
		*oflags = regs->cx;
		break;
	case NR32_openat:
		*raw = (const char *)(unsigned long)(__u32)regs->cx;
		*oflags = regs->dx;
		break;
	case NR32_openat2:
		*raw = (const char *)(unsigned long)(__u32)regs->cx;
		*oflags = how_flags((__u32)regs->dx);
		break;
	case NR32_creat:
		*raw = (const char *)(unsigned long)(__u32)regs->bx;
		*oflags = CREAT_FLAGS;
		break;
	case NR32_open_by_handle_at:
		*oflags = regs->dx;
		break;
	}
}

/* The other sensors' handlers on sys_exit (dispatch.h). */
DISPATCH_MAPS(sys_exit_tails);

/*
 * The one BTF raw tracepoint on syscall exit: cheaper per call than the
 * per-syscall tracepoints (no perf buffer is filled), needs no tracefs, and
 * returns after a few compares for every syscall that is neither an open nor a
 * write and that no other sensor's handler asked for (dispatch.h: those it
 * tail-calls). It sees 32-bit syscalls too, with ia32 numbers: a number of
 * either table asks which table the syscall came through (compat.h), so that an
 * ia32 getpid (20) is not taken for an x86_64 writev (20), and ia32 opens and
 * writes are decoded (the descriptor of an ia32 write is in ebx) and flagged
 * FLAG_COMPAT.
 */
SEC("tp_btf/sys_exit")
int BPF_PROG(file_sys_exit, struct pt_regs *regs, long ret)
{
	long nr = regs->orig_ax; /* a BTF pointer: a direct load, no helper call per syscall */
	int op64 = file_op64(nr), op32 = file_op32(nr);
	if (!op64 && !op32) {
		dispatch(ctx, sys_exit_tails, nr, -1);
		return 0;
	}
	int op = op64;
	long fd;
	__u32 xflags = 0;
	int compat = in_ia32_syscall();
	if (compat) {
		op = op32;
		fd = (int)regs->bx;
		xflags = FLAG_COMPAT;
	} else {
		fd = regs->di;
	}
	if (op == OP_OPEN) {
		__u32 oflags = 0;
		const char *raw = 0;
		if (xflags & FLAG_COMPAT)
			open_args32(regs, nr, &oflags, &raw);
		else
			open_args64(regs, nr, &oflags, &raw);
		return on_open(ret, xflags, oflags, raw);
	}
	if (op == OP_WRITE) {
		if (ret > 0)
			return on_write(fd, xflags);
		return 0;
	}
	/* A number of the other table's opens or writes (x86_64 fstat is 5, the ia32 open). */
	dispatch(ctx, sys_exit_tails, nr, compat);
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
	struct file *f = fd_file((struct task_struct *)bpf_get_current_task_btf(), res);
	return on_open(res, FLAG_IO_URING, f ? RD(struct file, f, f_flags) : 0, 0);
}
