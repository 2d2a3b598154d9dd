//go:build ignore
// SPDX-License-Identifier: (MIT OR GPL-2.0)
/*
 * Capability probes: one minimal program per optional kernel feature. Vigil loads
 * and attaches each at start-up (receiver/ebpfreceiver/internal/features) to learn
 * what this kernel really allows, then detaches it. None of them changes behaviour.
 *
 * lsm_deny_inode is the test fixture of the LSM capability: it denies opening one
 * file (inode and device set through deny_target), which shows the BPF LSM enforces.
 */
#include "vmlinux.h"
#include "bpf_helpers.h"
#include "bpf_tracing.h"

char __license[] SEC("license") = "Dual MIT/GPL";

#define EPERM 1
#define SIGKILL 9

/* BPF LSM: built in (CONFIG_BPF_LSM) and loadable. Returning ret keeps the
 * decision of any BPF LSM program that ran before this one (0 when none denied). */
SEC("lsm/file_open")
int BPF_PROG(probe_lsm, struct file *file, int ret)
{
	return ret;
}

/* fentry (BPF trampolines) on a function every supported kernel has. */
SEC("fentry/security_file_open")
int BPF_PROG(probe_fentry, struct file *file)
{
	return 0;
}

/* kprobes (CONFIG_KPROBES); the Go side attaches to do_unlinkat. */
SEC("kprobe/do_unlinkat")
int probe_kprobe(struct pt_regs *ctx)
{
	return 0;
}

/* kprobe.multi links (CONFIG_FPROBE, 5.18+). */
SEC("kprobe.multi/do_unlinkat")
int probe_kprobe_multi(struct pt_regs *ctx)
{
	return 0;
}

/* cgroup socket-address hooks: the network deny path where LSM is absent. 1 = allow. */
SEC("cgroup/connect4")
int probe_connect4(struct bpf_sock_addr *ctx)
{
	return 1;
}

/* Never set: the verifier must check the bpf_send_signal call (a const volatile
 * would let it prune the branch unchecked), but the signal is never sent. */
volatile __u32 never_signal_tgid;

/* bpf_send_signal (5.3+): the kill action. */
SEC("raw_tp/sys_enter")
int probe_send_signal(void *ctx)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;

	if (never_signal_tgid != 0 && tgid == never_signal_tgid)
		bpf_send_signal(SIGKILL);
	return 0;
}

static long loop_step(__u32 index, void *ctx)
{
	return 1; /* stop after the first step */
}

/* bpf_loop (5.17+): bounded loops without unrolling, used for path walks. */
SEC("raw_tp/sys_enter")
int probe_bpf_loop(void *ctx)
{
	bpf_loop(1, loop_step, NULL, 0);
	return 0;
}

/* Task iterators (5.8+): enumerate processes running at start-up. */
SEC("iter/task")
int probe_task_iter(struct bpf_iter__task *ctx)
{
	return 0;
}

/* Test fixture of the LSM capability. ino 0 never matches a file. */
struct inode_key {
	__u64 ino;
	__u32 dev; /* kernel encoding: major << 20 | minor */
	__u32 _pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct inode_key);
} deny_target SEC(".maps");

SEC("lsm/file_open")
int BPF_PROG(lsm_deny_inode, struct file *file, int ret)
{
	struct inode_key *t;
	struct inode *inode;
	__u32 key = 0;

	if (ret != 0)
		return ret;
	t = bpf_map_lookup_elem(&deny_target, &key);
	if (!t || t->ino == 0)
		return 0;
	inode = file->f_inode;
	if (inode->i_ino == t->ino && inode->i_sb->s_dev == t->dev)
		return -EPERM;
	return 0;
}
