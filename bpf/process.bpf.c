//go:build ignore
// SPDX-License-Identifier: (MIT OR GPL-2.0)
/*
 * Process sensor: exec, exit and fork of processes (thread groups), plus a task
 * iterator that reports the processes already running when the sensor starts.
 * Hooks are BTF tracepoints present on every supported kernel.
 */
#include "exe.h"

char __license[] SEC("license") = "Dual MIT/GPL";

#define ARGS_BUF 4096 /* bytes of the argument vector kept; power of two */
#define PF_KTHREAD 0x00200000

/* Set at load time. */
const volatile __u32 args_max = ARGS_BUF; /* bytes of arguments to capture, <= ARGS_BUF */

struct vigil_proc {
	struct event_header hdr;
	__u32 pid;  /* thread id that triggered the event */
	__u32 tgid; /* process id */
	__u32 ppid; /* parent process id (real parent's tgid) */
	__u32 uid;
	__u32 gid;
	__u32 euid;
	__u32 egid;
	__u32 exit_code; /* raw exit code (status << 8 | signal) for OP_EXIT */
	__u64 cgroup_id;
	__u64 start_boottime;        /* task start, boot clock ns */
	__u64 parent_start_boottime; /* parent start, boot clock ns */
	__u64 rules;   /* process.exec rules matched (exec only) */
	__u8 action;   /* strongest matched action */
	__u8 applied;  /* the action was carried out */
	__u8 matched;  /* rules is meaningful */
	__u8 pad1;
	__u16 path_len;
	__u16 cwd_len;
	__u16 args_len;
	__u16 pad;
	char cgroup_name[CGROUP_NAME];   /* leaf cgroup2 directory name */
	char cgroup_parent[CGROUP_NAME]; /* its parent's name (pod slices live here) */
	/* Exec and iterator records only (exit and fork records stop before the cgroup names). */
	__u64 cap_effective; /* capability sets, one bit per CAP_* number */
	__u64 cap_permitted;
	__u64 cap_bset;      /* bounding set */
	__u64 exe_ino;       /* the executable's inode number */
	__u32 exe_dev;       /* its superblock's device (kernel dev_t: major << 20 | minor) */
	__u32 exe_flags;     /* enum vigil_exe_flags */
	__u32 tty;           /* controlling terminal, encoded as in /proc/PID/stat; 0: none */
	__u32 loginuid;      /* audit login uid; 4294967295: unset */
	char comm[16];       /* the task name: after exec, the base name of the path exec was given */
	char path[PATH_BUF];
	char cwd[PATH_BUF];
	char args[ARGS_BUF]; /* NUL-separated argv; only args_len bytes are sent */
};

/* Force BTF emission of the record type for bpf2go. */
const struct vigil_proc *unused_vigil_proc __attribute__((unused));
const enum vigil_op *unused_op __attribute__((unused));
const enum vigil_flags *unused_flags __attribute__((unused));
const enum vigil_counter *unused_counter __attribute__((unused));
const enum rule_kind *unused_kind __attribute__((unused));
const enum vigil_event *unused_event __attribute__((unused));
const enum vigil_action *unused_action __attribute__((unused));
const struct vigil_alert *unused_alert __attribute__((unused));
const enum vigil_exe_flags *unused_exe_flags __attribute__((unused));

struct scratch {
	struct vigil_proc ev;
	struct proc_info info;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct scratch);
} scratch_map SEC(".maps");


static __always_inline struct scratch *get_scratch(void)
{
	__u32 zero = 0;
	struct scratch *s = bpf_map_lookup_elem(&scratch_map, &zero);
	if (!s)
		count(CNT_SCRATCH_MISS);
	return s;
}

static __always_inline void fill_cgroup(struct task_struct *task, struct vigil_proc *ev)
{
	struct kernfs_node *kn = BPF_CORE_READ(task, cgroups, dfl_cgrp, kn);
	ev->cgroup_id = BPF_CORE_READ(kn, id);
	bpf_probe_read_kernel_str(ev->cgroup_name, CGROUP_NAME, BPF_CORE_READ(kn, name));
	struct kernfs_node *parent = kn_parent(kn);
	ev->cgroup_parent[0] = 0;
	if (parent)
		bpf_probe_read_kernel_str(ev->cgroup_parent, CGROUP_NAME, BPF_CORE_READ(parent, name));
}

#define TTY_MINOR_BITS 20

/*
 * fill_creds reads the capability sets, the audit login uid and the controlling
 * terminal. kernel_cap_t is 64 bits on every kernel (two u32 before 6.3, one
 * u64 since): read as 8 bytes. The terminal is numbered as /proc/PID/stat's
 * tty_nr: the device (driver major, minor_start + index) in the user-space
 * encoding of a dev_t.
 */
static __always_inline void fill_creds(struct task_struct *task, struct vigil_proc *ev)
{
	const struct cred *cred = BPF_CORE_READ(task, cred);
	ev->cap_effective = ev->cap_permitted = ev->cap_bset = 0;
	bpf_probe_read_kernel(&ev->cap_effective, 8, __builtin_preserve_access_index(&cred->cap_effective));
	bpf_probe_read_kernel(&ev->cap_permitted, 8, __builtin_preserve_access_index(&cred->cap_permitted));
	bpf_probe_read_kernel(&ev->cap_bset, 8, __builtin_preserve_access_index(&cred->cap_bset));
	ev->loginuid = 0xffffffff;
	if (bpf_core_field_exists(task->loginuid))
		ev->loginuid = BPF_CORE_READ(task, loginuid.val);
	ev->tty = 0;
	struct tty_struct *tty = BPF_CORE_READ(task, signal, tty);
	if (tty) {
		__u32 major = BPF_CORE_READ(tty, driver, major);
		__u32 minor = BPF_CORE_READ(tty, driver, minor_start) + BPF_CORE_READ(tty, index);
		ev->tty = (minor & 0xff) | ((major & 0xfff) << 8) | ((minor & ~0xffu) << 12);
	}
}

/* fill_task fills everything but the arguments from a task (current or iterated). */
static __always_inline void fill_task(struct task_struct *task, struct scratch *s, __u8 op)
{
	struct vigil_proc *ev = &s->ev;
	__u32 trunc = 0;

	ev->hdr.op = op;
	ev->hdr.flags = 0;
	ev->hdr.ktime = bpf_ktime_get_boot_ns();
	ev->pid = BPF_CORE_READ(task, pid);
	ev->tgid = BPF_CORE_READ(task, tgid);
	ev->ppid = BPF_CORE_READ(task, real_parent, tgid);
	ev->uid = BPF_CORE_READ(task, cred, uid.val);
	ev->gid = BPF_CORE_READ(task, cred, gid.val);
	ev->euid = BPF_CORE_READ(task, cred, euid.val);
	ev->egid = BPF_CORE_READ(task, cred, egid.val);
	ev->exit_code = 0;
	ev->start_boottime = BPF_CORE_READ(task, group_leader, start_boottime);
	ev->parent_start_boottime = BPF_CORE_READ(task, real_parent, group_leader, start_boottime);
	ev->args_len = 0;
	ev->rules = 0;
	ev->action = 0;
	ev->applied = 0;
	ev->matched = 0;
	fill_cgroup(task, ev);

	if (BPF_CORE_READ(task, flags) & PF_KTHREAD)
		ev->hdr.flags |= FLAG_KTHREAD;
	fill_creds(task, ev);
	bpf_probe_read_kernel_str(ev->comm, sizeof(ev->comm), __builtin_preserve_access_index(&task->comm));
	struct mm_struct *mm = BPF_CORE_READ(task, mm);
	struct file *exe = mm ? BPF_CORE_READ(mm, exe_file) : 0;
	ev->exe_flags = 0;
	ev->exe_ino = 0;
	ev->exe_dev = 0;
	if (exe) {
		struct vfsmount *mnt = BPF_CORE_READ(exe, f_path.mnt);
		struct dentry *d = BPF_CORE_READ(exe, f_path.dentry);
		struct exe_id id;
		ev->exe_flags = exe_inspect(exe, &id);
		ev->exe_ino = id.ino;
		ev->exe_dev = id.dev;
		if (dentry_anon(mnt, d)) {
			/* No directory to walk: the dentry's own name, as d_path gives it
			 * ("memfd:NAME" for a memfd). */
			long n = bpf_probe_read_kernel_str(ev->path, PATH_BUF, BPF_CORE_READ(d, d_name.name));
			ev->path_len = n > 0 ? n - 1 : 0;
		} else {
			ev->path_len = resolve_path(mnt, d, ev->path, &trunc);
		}
		if (trunc)
			ev->hdr.flags |= FLAG_TRUNC_PATH;
	} else if (mm) {
		ev->path_len = 0;
		ev->path[0] = 0;
	} else {
		ev->hdr.flags |= FLAG_NO_MM;
		ev->path_len = 0;
		ev->path[0] = 0;
	}
	struct fs_struct *fs = BPF_CORE_READ(task, fs);
	if (fs) {
		ev->cwd_len = resolve_path(BPF_CORE_READ(fs, pwd.mnt), BPF_CORE_READ(fs, pwd.dentry), ev->cwd, &trunc);
		if (trunc)
			ev->hdr.flags |= FLAG_TRUNC_CWD;
	} else {
		ev->cwd_len = 0;
		ev->cwd[0] = 0;
	}
}

static __always_inline __u32 args_limit(unsigned long start, unsigned long end, struct vigil_proc *ev)
{
	__u32 max = args_max;
	if (max > ARGS_BUF)
		max = ARGS_BUF;
	if (end <= start)
		return 0;
	__u64 len = end - start;
	if (len > max) {
		len = max;
		ev->hdr.flags |= FLAG_TRUNC_ARGS;
	}
	return len;
}

static __always_inline long submit(struct vigil_proc *ev)
{
	__u32 n = ev->args_len;
	if (n > ARGS_BUF)
		n = ARGS_BUF;
	return output(&events, ev, offsetof(struct vigil_proc, args) + n);
}

/* remember_binary records the executable of a process for binary selectors. */
static __always_inline struct bin_key *remember_binary(struct scratch *s)
{
	__u32 n = s->ev.path_len;
	if (n > BIN_KEY - 1)
		n = BIN_KEY - 1;
	bpf_probe_read_kernel(s->info.bin.path, BIN_KEY, s->ev.path);
	s->info.bin.path[BIN_KEY - 1] = 0;
	/* The key includes the NUL, so an exact-path entry matches only this path. */
	s->info.bin.prefixlen = (n + 1) * 8;
	s->info.gen = 0; /* no cached selector result: computed on first use */
	s->info.bin_mask = 0;
	/* What the record reports, for the task keys (task_keys_filter). The
	 * name is a hash key there: NUL padded (the scratch record keeps the
	 * bytes of a longer earlier name after the NUL). */
	int end = 0;
	for (int i = 0; i < COMM_LEN; i++) {
		if (s->ev.comm[i] == 0 || i == COMM_LEN - 1)
			end = 1;
		s->info.comm[i] = end ? 0 : s->ev.comm[i];
	}
	s->info.cap_eff = s->ev.cap_effective;
	s->info.tty = s->ev.tty;
	/* The parent user space takes from now on: the one this exec record
	 * names (its real_parent now), as the process cache rebinds it. */
	s->info.fork_ppid = s->ev.ppid;
	bpf_map_update_elem(&proc_bin, &s->ev.tgid, &s->info, BPF_ANY);
	return &s->info.bin;
}

/* exec_rules applies process.exec rules to the new image of current. */
static __always_inline void exec_rules(struct scratch *s, struct task_struct *task, struct bin_key *bin)
{
	struct selector_cfg *sel = get_selector();
	if (!sel || !sel->kind_policies[KIND_EXEC])
		return;
	__u64 pol = select_policies(sel, task, sel->kind_policies[KIND_EXEC], s->ev.tgid, s->ev.uid, s->ev.cgroup_id, 0);
	if (!pol)
		return;
	__u64 *m = bpf_map_lookup_elem(&exec_binaries, bin);
	struct exe_id id = {.ino = s->ev.exe_ino, .dev = s->ev.exe_dev};
	struct match_ctx mc = {
		/* Deny rules belong to the LSM hook (the exec never gets here).
		 * Binaries match by path or by identity (a bind mount, another mount
		 * of the same file); exe_flags rules are in any_filter and match_step
		 * tests their flags against access. */
		.candidates = ((m ? *m : 0) | exec_identity_rules(&id) | sel->any_filter[KIND_EXEC]) &
			      ~sel->lsm_rules[KIND_EXEC],
		.policies = pol,
		.kind = KIND_EXEC,
		.event = EV_PROCESS_EXEC,
		.access = s->ev.exe_flags,
	};
	task_keys_filter(sel, task, &mc); /* after remember_binary: the new image's name */
	if (!mc.candidates)
		return;
	match_rules(&mc);
	if (!mc.any)
		return;
	s->ev.rules = mc.matched;
	s->ev.action = mc.action;
	s->ev.matched = 1;
	/* The new image has not run a single instruction yet: the pending SIGKILL
	 * ends it on the way back to user space. */
	if (mc.action == ACT_KILL && mc.enforce) {
		bpf_send_signal(SIGKILL);
		s->ev.applied = 1;
	}
}

SEC("tp_btf/sched_process_exec")
int BPF_PROG(handle_exec, struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm)
{
	struct scratch *s = get_scratch();
	if (!s)
		return 0;
	struct task_struct *task = (struct task_struct *)bpf_get_current_task_btf();
	fill_task(task, s, OP_EXEC);

	struct mm_struct *mm = BPF_CORE_READ(task, mm);
	unsigned long start = BPF_CORE_READ(mm, arg_start);
	unsigned long end = BPF_CORE_READ(mm, arg_end);
	__u32 len = args_limit(start, end, &s->ev);
	if (len > 0) {
		if (bpf_probe_read_user(s->ev.args, len & (ARGS_BUF - 1) ?: ARGS_BUF, (void *)start)) {
			count(CNT_ARGS_FAULT);
			len = 0;
		}
	}
	s->ev.args_len = len;
	exec_rules(s, task, remember_binary(s));
	submit(&s->ev);
	return 0;
}

/* short_record starts an exit or fork record: only the fixed head is sent. */
static __always_inline void short_record(struct vigil_proc *ev, __u8 op)
{
	ev->hdr.op = op;
	ev->hdr.flags = 0;
	ev->hdr.ktime = bpf_ktime_get_boot_ns();
	ev->exit_code = 0;
	ev->parent_start_boottime = 0;
	ev->path_len = 0;
	ev->cwd_len = 0;
	ev->args_len = 0;
	ev->rules = 0;
	ev->action = ev->applied = ev->matched = 0;
}

SEC("tp_btf/sched_process_exit")
int BPF_PROG(handle_exit, struct task_struct *p)
{
	/* The tracepoint fires for every thread; report the thread group once, when its
	 * last thread leaves (signal->live already dropped to zero here). */
	if (BPF_CORE_READ(p, signal, live.counter) != 0)
		return 0;
	struct scratch *s = get_scratch();
	if (!s)
		return 0;
	struct vigil_proc *ev = &s->ev;
	__u32 tgid = BPF_CORE_READ(p, tgid);
	bpf_map_delete_elem(&proc_bin, &tgid);
	short_record(ev, OP_EXIT);
	ev->pid = BPF_CORE_READ(p, pid);
	ev->tgid = BPF_CORE_READ(p, tgid);
	ev->ppid = BPF_CORE_READ(p, real_parent, tgid);
	ev->exit_code = BPF_CORE_READ(p, exit_code);
	ev->start_boottime = BPF_CORE_READ(p, group_leader, start_boottime);
	ev->cgroup_id = BPF_CORE_READ(p, cgroups, dfl_cgrp, kn, id);
	output(&events, ev, offsetof(struct vigil_proc, cgroup_name));
	return 0;
}

SEC("tp_btf/sched_process_fork")
int BPF_PROG(handle_fork, struct task_struct *parent, struct task_struct *child)
{
	/* New threads are not new processes. */
	if (BPF_CORE_READ(child, pid) != BPF_CORE_READ(child, tgid))
		return 0;
	struct scratch *s = get_scratch();
	if (!s)
		return 0;
	struct vigil_proc *ev = &s->ev;
	__u32 ptgid = BPF_CORE_READ(parent, tgid);
	__u32 ctgid = BPF_CORE_READ(child, tgid);
	struct proc_info *pb = bpf_map_lookup_elem(&proc_bin, &ptgid);
	if (pb) {
		bpf_map_update_elem(&proc_bin, &ctgid, pb, BPF_ANY);
		struct proc_info *cb = bpf_map_lookup_elem(&proc_bin, &ctgid);
		if (cb)
			cb->fork_ppid = ptgid; /* the forking process, as the fork record names it */
	}
	short_record(ev, OP_FORK);
	ev->pid = BPF_CORE_READ(child, pid);
	ev->tgid = BPF_CORE_READ(child, tgid);
	ev->ppid = BPF_CORE_READ(parent, tgid);
	ev->start_boottime = BPF_CORE_READ(child, start_boottime);
	ev->parent_start_boottime = BPF_CORE_READ(parent, group_leader, start_boottime);
	ev->uid = BPF_CORE_READ(child, cred, uid.val);
	ev->gid = BPF_CORE_READ(child, cred, gid.val);
	ev->euid = BPF_CORE_READ(child, cred, euid.val);
	ev->egid = BPF_CORE_READ(child, cred, egid.val);
	ev->cgroup_id = BPF_CORE_READ(child, cgroups, dfl_cgrp, kn, id);
	output(&events, ev, offsetof(struct vigil_proc, cgroup_name));
	return 0;
}

/*
 * Sleepable task iterator: one record per running process (thread-group leader),
 * written to the iterator's seq file. Sleepable so that the arguments can be read
 * from the other task's memory with bpf_copy_from_user_task.
 */
SEC("iter.s/task")
int iter_tasks(struct bpf_iter__task *ctx)
{
	struct task_struct *task = ctx->task;
	if (!task)
		return 0;
	if (task->pid != task->tgid)
		return 0;
	struct scratch *s = get_scratch();
	if (!s)
		return 0;
	fill_task(task, s, OP_ITER);
	s->ev.args_len = 0;
	if (s->ev.path_len)
		remember_binary(s);
	struct mm_struct *mm = task->mm;
	if (mm) {
		unsigned long start = BPF_CORE_READ(mm, arg_start);
		unsigned long end = BPF_CORE_READ(mm, arg_end);
		__u32 len = args_limit(start, end, &s->ev);
		if (len > 0) {
			if (bpf_copy_from_user_task(s->ev.args, len & (ARGS_BUF - 1) ?: ARGS_BUF, (void *)start,
						    task, 0)) {
				count(CNT_ARGS_FAULT);
				len = 0;
			}
		}
		s->ev.args_len = len;
	}
	/* Variable size, framed by args_len, like the ring buffer records. */
	__u32 n = s->ev.args_len;
	if (n > ARGS_BUF)
		n = ARGS_BUF;
	bpf_seq_write(ctx->meta->seq, &s->ev, offsetof(struct vigil_proc, args) + n);
	return 0;
}
