/* SPDX-License-Identifier: (MIT OR GPL-2.0) */
/*
 * Policy state shared by every sensor object: selectors, rules, the per-process
 * binary table and the event ring buffer. Each sensor object carries these map
 * definitions; user space loads the process sensor first and hands its maps to
 * the others (MapReplacements), so all sensors see one set of maps.
 *
 * Compilation model (user space, internal/policy + compile.go):
 *  - each policy has a slot 0..63; a selector evaluates to a 64-bit policy mask;
 *  - each rule has a slot 0..63 within its kind (file, net, exec, sys); filter maps
 *    (LPM tries, hashes) map a key to the mask of rules it satisfies, closed over
 *    shorter prefixes, so one lookup answers "which rules match";
 *  - a rule matches when its filter bit is set and its policy's selector bit is set.
 * Changing policy is a map update; programs are never reloaded.
 */
#ifndef VIGIL_POLICY_H
#define VIGIL_POLICY_H

#include "common.h"

#define MAX_RULES 64
#define BIN_KEY 256 /* bytes of an executable path used as a selector key */
#define RAW_BUF 256 /* bytes kept of an open's path as the caller passed it; power of two */
#define NAME_KEY 64 /* bytes of a file name's end the name filters test; power of two */
#define SUBSTR_MAX 16 /* substring patterns of each target (file names, raw paths) across all rules */

enum rule_kind {
	KIND_FILE = 0,
	KIND_NET = 1,
	KIND_EXEC = 2,
	KIND_SYS = 3,
	KIND_MAX = 4,
};

/* Events of rules (enum policy event), as in the policy format. */
enum vigil_event {
	EV_FILE_OPEN = 1,
	EV_FILE_WRITE = 2,
	EV_FILE_UNLINK = 3,
	EV_FILE_RENAME = 4,
	EV_FILE_CHMOD = 5,
	EV_NET_CONNECT = 6,
	EV_NET_ACCEPT = 7,
	EV_NET_LISTEN = 8,
	EV_PROCESS_EXEC = 9,
	EV_PRIVILEGE_CHANGE = 10,
	EV_NAMESPACE_CHANGE = 11,
	EV_MODULE_LOAD = 12,
	EV_BPF_LOAD = 13,
	EV_PTRACE = 14,
	EV_FILE_LINK = 15,   /* syscall kind: link, linkat */
	EV_FILE_SYMLINK = 16, /* syscall kind: symlink, symlinkat */
	EV_NET_SOCKET = 17,  /* syscall kind: socket */
	EV_FD_DUP = 18,      /* syscall kind: dup, dup2, dup3, fcntl F_DUPFD onto 0..2 */
	EV_MAX = 32,
};

enum vigil_action {
	ACT_POST = 0,
	ACT_COUNT = 1,
	ACT_DENY = 2,
	ACT_KILL = 3,
};

struct rule_cfg {
	__u8 active;
	__u8 policy;  /* policy slot */
	__u8 action;  /* enum vigil_action, effective on this kernel */
	__u8 enforce; /* 0: monitor, report what would be done */
	__u8 access;  /* file.open: bit 0 read, bit 1 write; 0 = either */
	__u8 event;   /* enum vigil_event */
	__u8 pad[2];
	__u32 oflags; /* file.open: the rule needs one of these requested open flags (O_TRUNC...); 0 = any */
	__u64 caps;   /* task keys: the process's effective set must hold one of these (CAP_* bits); 0 = any */
};

/* Selector state, one entry (array index 0). */
struct selector_cfg {
	__u64 active;          /* policies loaded */
	__u64 need_uid;        /* policies with a uids selector */
	__u64 need_binary;     /* policies with binaries/binary_prefixes */
	__u64 need_cgroup;     /* policies with namespaces/pod_labels (cgroup-id sets) */
	__u64 containers_only; /* policies for containerised processes only */
	__u64 containers_none; /* policies for host processes only */
	__u64 any_filter[KIND_MAX]; /* rules of each kind with no filter key (match any) */
	__u64 kind_policies[KIND_MAX]; /* policies having rules of each kind: early exit */
	__u64 lsm_rules[KIND_MAX];     /* rules enforced by an LSM hook, not the tracepoints */
	__u8 emit_all;         /* debug: the kernel emits every event, user space filters */
	__u8 top_filter;       /* file rules but nontop_rules only concern the top-level directories in top_dirs */
	__u8 id_filter;        /* file_ids holds identities of exact rule paths */
	__u8 task_filter;      /* some rule has a task key (task_keys): names, parent names, tty, capabilities */
	__u32 gen;             /* bumped by every policy apply: invalidates cached masks */
	__u32 pad2;
	/* File rules with a directory prefix: a path that cannot be resolved whole
	 * (too deep, too long) is a candidate of all of them (fail closed). */
	__u64 prefix_rules;
	__u64 raw_rules;    /* file.open rules whose records carry the path as the caller passed it */
	__u64 failed_rules; /* file.open rules that also see failed opens */
	/* File rules with name_suffixes, name_contains, raw_contains: a candidate
	 * only when the test holds (or cannot be decided: fail closed). */
	__u64 suffix_rules;
	__u64 name_sub_rules;
	__u64 raw_sub_rules;
	/* File rules the top-directory pre-filter does not concern (no paths, or
	 * "/"): while one is a candidate, an open outside top_dirs is not dropped. */
	__u64 nontop_rules;
	/* file.open rules by their static filters, tested before any path work
	 * (match_step tests them again, exactly): rules needing a read (access
	 * read only), a write (write only), one of the open flags in oflags_any. */
	__u64 read_rules;
	__u64 write_rules;
	__u64 oflag_rules;
	__u32 oflags_any;
	__u32 pad3;
};

struct bin_key {
	__u32 prefixlen; /* bits, for the LPM trie */
	char path[BIN_KEY];
};

/*
 * A file name for the name_suffixes trie: the last NAME_KEY bytes of the final
 * path component, reversed, then "/" when the whole name fits. A prefix of it
 * is a suffix of "/" + name: ".so" is keyed "os.", the exact name
 * "release_agent" as "tnega_esaeler/".
 */
struct name_key {
	__u32 prefixlen;
	char rname[NAME_KEY];
};

/* A substring pattern (1 to 8 bytes) of name_contains or raw_contains. */
struct substr_pat {
	__u64 val;   /* the pattern's bytes, the first one lowest */
	__u64 rules; /* file rules having it */
	__u32 shift; /* 64 - 8 * length */
	__u32 pad;
};

/* The patterns of one target (SUBSTR_NAME, SUBSTR_RAW). */
struct substr_table {
	__u32 count;
	__u32 pad;
	struct substr_pat pats[SUBSTR_MAX];
};

#define SUBSTR_NAME 0
#define SUBSTR_RAW 1

struct net4_key {
	__u32 prefixlen;
	__u32 addr;
};

struct net6_key {
	__u32 prefixlen;
	__u8 addr[16];
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct selector_cfg);
} selector SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, KIND_MAX *MAX_RULES);
	__type(key, __u32);
	__type(value, struct rule_cfg);
} rules SEC(".maps");

/* Per-rule match counters (kind * 64 + slot), per CPU: the `count` action's metric. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, KIND_MAX *MAX_RULES);
	__type(key, __u32);
	__type(value, __u64);
} rule_hits SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, __u32);
	__type(value, __u64);
} sel_uid SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64);
	__type(value, __u64);
} sel_cgroup SEC(".maps");

/* Executable selectors: exact paths are keyed with their NUL (so only the exact
 * path matches), directory prefixes without it. */
struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 4096);
	__type(key, struct bin_key);
	__type(value, __u64);
	__uint(map_flags, BPF_F_NO_PREALLOC);
} sel_binary SEC(".maps");

#define COMM_LEN 16

/* The executable of a process and its cached binary-selector result. */
struct proc_info {
	struct bin_key bin;
	__u64 bin_mask; /* sel_binary result for bin, valid while gen == selector.gen */
	__u32 gen;
	__u32 pad;
	/* As the exec record reported them (the rule stage sees the same values):
	 * the task keys read these, not the live task. */
	char comm[COMM_LEN]; /* the name at exec; empty: not recorded */
	__u64 cap_eff;       /* the effective capability set at exec */
	__u32 tty;           /* the controlling terminal at exec; 0: none */
	/* User space's parent of this process: the one that forked it, or the
	 * one its last exec record named (the process cache takes the same). It
	 * stays so after a re-parenting, which real_parent does not; 0: not
	 * known. */
	__u32 fork_ppid;
};

/* Every process (tgid): written at exec and inherited at fork. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, __u32);
	__type(value, struct proc_info);
} proc_bin SEC(".maps");

/*
 * Task keys: per-rule tests on the process behind an event, for every kind.
 * A rule of kind k with a key is in that key's mask of task_key_cfg; the
 * candidates of an event keep a rule only when each of its keys holds. The
 * names are looked up in task_names (kind, which, name) -> rules.
 */
#define ANC_DEPTH 8 /* generations the ancestor walk reads at most (a power of two) */

struct task_key_cfg {
	__u64 name_rules[KIND_MAX];  /* rules with process names: task_names which 0 */
	__u64 pname_rules[KIND_MAX]; /* rules with parent names: task_names which 1 */
	__u64 tty_rules[KIND_MAX];   /* rules for processes with a controlling terminal */
	__u64 notty_rules[KIND_MAX]; /* rules for processes without one */
	__u64 cap_rules[KIND_MAX];   /* rules with capabilities (rule_cfg.caps) */
	/* Ancestor names (task_names which 2): a rule of aname_rules holds when
	 * one of the first generations up real_parent (1: the parent) has one of
	 * its names; aname_at[k][i] are those whose depth reaches generation
	 * i + 1; aname_open those a chain longer than ANC_DEPTH passes without
	 * a match (a condition's ancestor term, which user space decides). */
	__u64 aname_rules[KIND_MAX];
	__u64 aname_at[KIND_MAX][ANC_DEPTH];
	__u64 aname_open[KIND_MAX];
	/* Of those, the rules whose ancestor key is a condition's (user space
	 * decides it on the fork-time ancestry): a generation re-parented since
	 * its fork, whose real_parent is no longer the process user space
	 * takes as its parent, passes them. */
	__u64 aname_cond[KIND_MAX];
	/* The rules of pname_rules whose parent-name key is a condition's: a
	 * process re-parented since its fork passes them, as above. */
	__u64 pname_cond[KIND_MAX];
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct task_key_cfg);
} task_keys SEC(".maps");

struct task_name_key {
	__u8 kind;  /* enum rule_kind */
	__u8 which; /* 0: the process's name, 1: its parent's, 2: an ancestor's */
	__u8 pad[2];
	char name[COMM_LEN]; /* NUL padded, at most 15 bytes */
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, struct task_name_key);
	__type(value, __u64);
} task_names SEC(".maps");

#define TOP_KEY 16
/* First path components (after /) of every file rule path, truncated to 15 bytes:
 * an open elsewhere is rejected before its path is resolved. */
struct top_key {
	char name[TOP_KEY];
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, struct top_key);
	__type(value, __u64); /* the file rules with a path under that directory */
} top_dirs SEC(".maps");

/*
 * top_dirs hashed by top_bucket: each bucket the OR of the rule masks of the
 * names in it, so that a name none of the rules in question is under is told
 * by one array load, without reading it whole or hashing the key (top_dirs
 * decides the rest exactly). User space computes the same hash.
 */
#define TOP_BUCKETS 4096
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, TOP_BUCKETS);
	__type(key, __u32);
	__type(value, __u64);
} top_buckets SEC(".maps");

#define HASH_MUL 0x9E3779B97F4A7C15ULL

/* top_bucket: the bucket of a top_dirs name of len bytes (at most
 * TOP_KEY - 1) whose first bytes (at most 8) are w, the first lowest. */
static __always_inline __u32 top_bucket(__u64 w, __u32 len)
{
	return ((w + len) * HASH_MUL) >> 52; /* 12 bits: TOP_BUCKETS */
}

/* Rule filters: key -> mask of rules (of that kind) the key satisfies. */
struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 8192);
	__type(key, struct bin_key);
	__type(value, __u64);
	__uint(map_flags, BPF_F_NO_PREALLOC);
} file_paths SEC(".maps");

/* name_suffixes: reversed file-name ends (struct name_key) -> rules, closed
 * over shorter suffixes. */
struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 4096);
	__type(key, struct name_key);
	__type(value, __u64);
	__uint(map_flags, BPF_F_NO_PREALLOC);
} file_suffixes SEC(".maps");

/* name_contains (index SUBSTR_NAME) and raw_contains (SUBSTR_RAW) patterns. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, struct substr_table);
} file_substrs SEC(".maps");

/* The identity of a file: the inode number and the kernel's device number of its
 * superblock (MAJOR << 20 | MINOR), as user space resolves it from each exact
 * rule path at compile time. */
struct file_id {
	__u64 ino;
	__u32 dev;
	__u32 pad;
};

/* Exact rule files by identity -> rules naming them: a hard link or a bind
 * mount of a watched file opens the same inode under another path. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 8192); /* as file_paths: one identity per exact path at most */
	__type(key, struct file_id);
	__type(value, __u64);
} file_ids SEC(".maps");

/* The identities of file_ids as a bitmap of ID_BITS bits (id_bit): a clear
 * bit says "no rule names this file" with one array load. */
#define ID_BITS 65536
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, ID_BITS / 64);
	__type(key, __u32);
	__type(value, __u64);
} file_id_bits SEC(".maps");

static __always_inline __u32 id_bit(__u64 ino, __u32 dev)
{
	return ((ino ^ ((__u64)dev << 32)) * HASH_MUL) >> 48; /* 16 bits: ID_BITS */
}

/*
 * Where each file system's root is mounted in the host's mount namespace, by
 * the superblock's device (MAJOR << 20 | MINOR): user space fills it from the
 * host's mountinfo (the first mount of each device whose root is the file
 * system's root) and keeps it current. A file reached through a subtree mount
 * (a bind mount) gets its canonical path from it: that mount point followed by
 * the file's path from its file system's root.
 */
#define FS_ROOT_PATH 256

struct fs_root {
	__u32 len; /* bytes of path; 0 for "/" (the path within the file system follows) */
	__u32 pad;
	char path[FS_ROOT_PATH];
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u32);
	__type(value, struct fs_root);
} fs_roots SEC(".maps");

/*
 * Subtree mounts of the host's mount namespace that are where their files live
 * (a btrfs subvolume mounted as / or /home: no mount of the file system's root
 * exists to name them from), by mount id: crossing one is not a route around a
 * rule. A bind mount of a directory that a whole mount also shows is never one.
 */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u32);
	__type(value, __u8);
} canon_exempt SEC(".maps");

/* subtree_route: the walk crossed a subtree mount that is not exempt. */
static __always_inline int subtree_route(struct walk_mounts *sub)
{
	__u32 n = sub->n;
	if (n > MNT_SUB)
		return 1;
	for (__u32 i = 0; i < MNT_SUB; i++) {
		if (i >= n)
			break;
		__u32 id = sub->ids[i];
		if (!bpf_map_lookup_elem(&canon_exempt, &id))
			return 1;
	}
	return 0;
}

/* subtree_mount: the mount shows a subtree of its file system and is not exempt. */
static __always_inline int subtree_mount(struct mount *mnt, struct dentry *mnt_root)
{
	struct super_block *sb = RD(struct dentry, mnt_root, d_sb);
	if (!sb || RD(struct super_block, sb, s_root) == mnt_root)
		return 0;
	__u32 id = RD(struct mount, mnt, mnt_id);
	return !bpf_map_lookup_elem(&canon_exempt, &id);
}

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 4096);
	__type(key, struct bin_key);
	__type(value, __u64);
	__uint(map_flags, BPF_F_NO_PREALLOC);
} exec_binaries SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 4096);
	__type(key, struct net4_key);
	__type(value, __u64);
	__uint(map_flags, BPF_F_NO_PREALLOC);
} net_cidr4 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 4096);
	__type(key, struct net6_key);
	__type(value, __u64);
	__uint(map_flags, BPF_F_NO_PREALLOC);
} net_cidr6 SEC(".maps");

/* port -> rules listing it; rules without ports are in any_port. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, __u16);
	__type(value, __u64);
} net_ports SEC(".maps");

/* Net rules that list no ports (array index 0). Separate from any_filter[KIND_NET],
 * which holds net rules without CIDRs. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} net_any_port SEC(".maps");

/* event id -> rules of that event: the whole filter of the syscall-kind events
 * (they have no filter keys), a gate for file.open and file.write. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, EV_MAX);
	__type(key, __u32);
	__type(value, __u64);
} event_rules SEC(".maps");

/* event_rules_of returns the rule slots of an event (0 when none). */
static __always_inline __u64 event_rules_of(__u32 event)
{
	__u64 *rules = bpf_map_lookup_elem(&event_rules, &event);
	return rules ? *rules : 0;
}

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 22); /* replaced at load time from configuration */
} events SEC(".maps");

/* An alert: a policy rule matched (or, in emit_all mode, a candidate event). */
struct vigil_alert {
	struct event_header hdr;
	__u32 pid;
	__u32 tgid;
	__u32 ppid;
	__u32 uid;
	__u32 euid;
	__u32 gid;
	__u64 cgroup_id;
	__u64 start_boottime;
	__u64 rules;   /* matched rule mask within kind */
	__u8 kind;     /* enum rule_kind */
	__u8 event;    /* enum vigil_event */
	__u8 action;   /* strongest matched action */
	__u8 applied;  /* the action was carried out (enforce mode and possible) */
	__u32 access;  /* file.open: open flags; sys: syscall specific */
	__u64 args[4]; /* syscall arguments (sys kind) */
	__u16 family;  /* AF_INET / AF_INET6 */
	__u16 dport;   /* host order */
	__u8 protocol; /* IPPROTO_TCP / UDP */
	__u8 pad2[3];
	__u8 daddr[16];
	__u64 ino;     /* file events: the file's inode number */
	__u32 dev;     /* file events: its superblock's device (MAJOR << 20 | MINOR) */
	__s32 res;     /* file.open: the syscall's result (a negative errno when it failed) */
	__u16 path_len;
	__u16 raw_len; /* bytes of raw (without NUL); 0: not captured */
	__u16 canon_len; /* FLAG_SUBTREE_MOUNT: bytes of canon (without NUL); 0: not resolved */
	__u16 pad3;
	char path[PATH_BUF];
	char raw[RAW_BUF]; /* file.open: the path as the caller passed it, when a rule asks */
	char canon[PATH_BUF]; /* FLAG_SUBTREE_MOUNT: the file's path in the host's mount namespace */
};

static __always_inline struct selector_cfg *get_selector(void)
{
	__u32 zero = 0;
	return bpf_map_lookup_elem(&selector, &zero);
}

/* in_container: the task's pid namespace is not the initial one. */
static __always_inline int in_container(struct task_struct *task)
{
	unsigned int level = BPF_CORE_READ(task, nsproxy, pid_ns_for_children, level);
	return level > 0;
}

/*
 * select_policies keeps the policies of mask whose selector holds for a task.
 * With cur set the task is current and its uid, cgroup id and tgid are fetched
 * only when a policy of mask needs them (most events pay for none); otherwise
 * the given values are used.
 */
static __always_inline __u64 select_policies(struct selector_cfg *sel, struct task_struct *task, __u64 mask,
					     __u32 tgid, __u32 uid, __u64 cgid, const int cur)
{
	mask &= sel->active;
	if (!mask)
		return 0;
	if (sel->need_uid & mask) {
		if (cur)
			uid = (__u32)bpf_get_current_uid_gid();
		__u64 *m = bpf_map_lookup_elem(&sel_uid, &uid);
		mask &= ~sel->need_uid | (m ? *m : 0);
	}
	if (sel->need_cgroup & mask) {
		if (cur)
			cgid = bpf_get_current_cgroup_id();
		__u64 *m = bpf_map_lookup_elem(&sel_cgroup, &cgid);
		mask &= ~sel->need_cgroup | (m ? *m : 0);
	}
	if ((sel->containers_only | sel->containers_none) & mask) {
		if (in_container(task))
			mask &= ~sel->containers_none;
		else
			mask &= ~sel->containers_only;
	}
	if (sel->need_binary & mask) {
		if (cur)
			tgid = bpf_get_current_pid_tgid() >> 32;
		struct proc_info *pi = bpf_map_lookup_elem(&proc_bin, &tgid);
		__u64 bm = 0;
		if (pi) {
			if (pi->gen != sel->gen) {
				/* One LPM lookup per process and policy generation, not per event. */
				__u64 *m = bpf_map_lookup_elem(&sel_binary, &pi->bin);
				pi->bin_mask = m ? *m : 0;
				pi->gen = sel->gen;
			}
			bm = pi->bin_mask;
		}
		mask &= ~sel->need_binary | bm;
	}
	return mask;
}

/* current_policies: the policies with rules of a kind that select the current task. */
static __always_inline __u64 current_policies(struct selector_cfg *sel, struct task_struct *task, __u32 kind)
{
	return select_policies(sel, task, sel->kind_policies[kind & (KIND_MAX - 1)], 0, 0, 0, 1);
}

/*
 * match_rules keeps the candidate rules whose policy selected the task and whose
 * access filter holds, and returns the strongest action among them in *action
 * (kill > deny > post > count) and whether any of those is enforced.
 */
struct match_ctx {
	__u64 candidates;
	__u64 policies;
	__u32 kind;
	__u32 access; /* ACCESS bits of this event, file.open */
	__u32 event;  /* the hook's event: rules of other events of the same kind do not match */
	__u32 oflags; /* file.open: the requested open flags */
	__u64 matched;
	__u64 caps;   /* task keys: the process's effective capabilities (read when a candidate has caps) */
	__u64 left;   /* match_rules: the candidates not yet looked at */
	__u8 action;
	__u8 enforce;
	__u8 any;
};

static long match_step(__u32 i, struct match_ctx *m)
{
	if (!(m->candidates & (1ULL << i)))
		return 0;
	__u32 idx = m->kind * MAX_RULES + i;
	struct rule_cfg *r = bpf_map_lookup_elem(&rules, &idx);
	if (!r || !r->active)
		return 0;
	if (!(m->policies & (1ULL << (r->policy & 63))))
		return 0;
	if (m->event && r->event != m->event)
		return 0;
	if (r->access && !(r->access & m->access))
		return 0;
	if (r->oflags && !(r->oflags & m->oflags))
		return 0;
	if (r->caps && !(r->caps & m->caps))
		return 0;
	m->matched |= 1ULL << i;
	__u64 *hits = bpf_map_lookup_elem(&rule_hits, &idx);
	if (hits)
		*hits += 1;
	/* Rank: kill(3) > deny(2) > post(0) > count(1). */
	__u8 rank = r->action == ACT_COUNT ? 0 : r->action == ACT_POST ? 1 : r->action;
	__u8 cur = !m->any ? 0 : m->action == ACT_COUNT ? 0 : m->action == ACT_POST ? 1 : m->action;
	if (!m->any || rank > cur) {
		m->action = r->action;
		m->enforce = r->enforce;
	} else if (rank == cur && r->enforce) {
		m->enforce = 1;
	}
	m->any = 1;
	return 0;
}

/*
 * open_statics drops from want the file.open rules whose access mode or open
 * flags cannot hold for this open (access: 1 read, 2 write, 3 both), before
 * any path work.
 */
static __always_inline __u64 open_statics(struct selector_cfg *sel, __u64 want, __u32 access, __u32 oflags)
{
	/* Without branches: one verifier path for every mode and flag set. */
	__u64 no_read = ~access & 1, no_write = (~access >> 1) & 1;
	__u64 t = oflags & sel->oflags_any;
	__u64 no_flag = ((t | -t) >> 63) ^ 1;
	return want & ~(sel->read_rules * no_read) & ~(sel->write_rules * no_write) & ~(sel->oflag_rules * no_flag);
}

/* popcount64: the number of bits set (no instruction for it in BPF). */
static __always_inline __u32 popcount64(__u64 x)
{
	x = x - ((x >> 1) & 0x5555555555555555ULL);
	x = (x & 0x3333333333333333ULL) + ((x >> 2) & 0x3333333333333333ULL);
	x = (x + (x >> 4)) & 0x0f0f0f0f0f0f0f0fULL;
	return (__u32)((x * 0x0101010101010101ULL) >> 56);
}

/* low_bit: the index of the lowest bit set of x (x != 0), by halving. */
static __always_inline __u32 low_bit(__u64 x)
{
	__u32 n = 0;
	if (!(x & 0xffffffffULL)) {
		n += 32;
		x >>= 32;
	}
	if (!(x & 0xffff)) {
		n += 16;
		x >>= 16;
	}
	if (!(x & 0xff)) {
		n += 8;
		x >>= 8;
	}
	if (!(x & 0xf)) {
		n += 4;
		x >>= 4;
	}
	if (!(x & 0x3)) {
		n += 2;
		x >>= 2;
	}
	if (!(x & 0x1))
		n += 1;
	return n & (MAX_RULES - 1);
}

/* One candidate of match_rules: the lowest one not yet looked at. */
static long match_next(__u32 i, struct match_ctx *m)
{
	__u64 left = m->left;
	if (!left)
		return 1;
	m->left = left & (left - 1);
	return match_step(low_bit(left), m);
}

/*
 * match_rules runs match_step on each candidate, one bpf_loop step per
 * candidate (a few, usually), not one per rule slot.
 */
static __always_inline void match_rules(struct match_ctx *mc)
{
	mc->left = mc->candidates;
	bpf_loop(popcount64(mc->candidates), match_next, mc, 0);
}

/* task_name_rules: the rules of a kind naming a process name (which 0) or a parent name (1). */
static __always_inline __u64 task_name_rules(__u32 kind, __u8 which, const char *name)
{
	struct task_name_key k = {.kind = kind, .which = which};
	__builtin_memcpy(k.name, name, COMM_LEN);
	k.name[COMM_LEN - 1] = 0;
	__u64 *m = bpf_map_lookup_elem(&task_names, &k);
	return m ? *m : 0;
}

/* task_comm reads the live name of a task into a zeroed buffer. */
static __always_inline void task_comm(char *name, struct task_struct *t)
{
	bpf_probe_read_kernel_str(name, COMM_LEN, __builtin_preserve_access_index(&t->comm));
}

/*
 * The walk of ancestor_names up real_parent, one generation per bpf_loop
 * step. Its state is per-CPU scratch, not stack: the walk runs inside the
 * file hook's deepest call chains, which are near the 512-byte stack limit.
 */
struct anc_walk {
	__u64 t;     /* the generation last read (at first, the task): a task_struct address */
	__u64 want;  /* the candidates with ancestor names */
	__u64 found; /* those an ancestor's name matched */
	__u32 kind;
	__u32 read;  /* generations read */
	__u32 ended; /* the chain ended (the idle task) before the walk did */
	__u32 fppid; /* t's fork_ppid (0: not known) */
	struct task_name_key key;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct anc_walk);
} anc_walks SEC(".maps");

/* task_key_name: a task's name as its exec recorded it (proc_bin), else its
 * process's live name, as a task_names key. Returns the process's fork_ppid. */
static __always_inline __u32 task_key_name(struct task_name_key *k, struct task_struct *t, __u32 tgid)
{
	struct proc_info *pi = bpf_map_lookup_elem(&proc_bin, &tgid);
	if (pi && pi->comm[0])
		__builtin_memcpy(k->name, pi->comm, COMM_LEN);
	else
		task_comm(k->name, BPF_CORE_READ(t, group_leader));
	k->name[COMM_LEN - 1] = 0;
	return pi ? pi->fork_ppid : 0;
}

static long anc_step(__u32 i, void *ctx)
{
	__u32 zero = 0;
	struct anc_walk *w = bpf_map_lookup_elem(&anc_walks, &zero);
	struct task_key_cfg *tk = bpf_map_lookup_elem(&task_keys, &zero);
	if (!w || !tk)
		return 1;
	/* Direct loads where the object has them (RD, DR: common.h). */
	struct task_struct *t = TYPED(struct task_struct, w->t);
	struct task_struct *p = DR(struct task_struct, t, real_parent);
	__u32 ptgid = p ? DR(struct task_struct, p, tgid) : 0;
	if (!ptgid) {
		w->ended = 1; /* past init (or a kernel thread's kthreadd): the idle task */
		return 1;
	}
	__u32 k = w->kind & (KIND_MAX - 1), d = i & (ANC_DEPTH - 1);
	if (!i) {
		/* The task's own fork_ppid (later generations': read with their names). */
		__u32 tgid = DR(struct task_struct, t, tgid);
		struct proc_info *pi = bpf_map_lookup_elem(&proc_bin, &tgid);
		w->fppid = pi ? pi->fork_ppid : 0; /* 0, not known: passes, as re-parented */
	}
	if (w->fppid != ptgid)
		/* t was re-parented (or forked with CLONE_PARENT): from here user
		 * space follows the process that forked it, the kernel cannot. A
		 * condition's key passes; a policy's own key follows real_parent. */
		w->found |= w->want & tk->aname_cond[k];
	__builtin_memset(&w->key, 0, sizeof(w->key));
	w->key.kind = k;
	w->key.which = 2;
	w->fppid = task_key_name(&w->key, p, ptgid);
	__u64 *m = bpf_map_lookup_elem(&task_names, &w->key);
	if (m)
		w->found |= *m & tk->aname_at[k][d];
	w->read = i + 1;
	w->t = (__u64)p;
	/* Go on while a rule not yet matched reaches the next generation. */
	if (d + 1 >= ANC_DEPTH || !(w->want & ~w->found & tk->aname_at[k][(d + 1) & (ANC_DEPTH - 1)]))
		return 1;
	return 0;
}

/*
 * task_keys_filter drops from mc->candidates the rules whose task keys do not
 * hold for the current process (name, parent name, tty) and sets mc->caps for
 * match_step's capability test. The values are those its exec recorded
 * (proc_bin: what the exec record told user space), the live task's when the
 * process has no entry. Nothing is read when no candidate has a task key.
 * The exec security hook runs before the new image has a name and
 * capabilities: user space refuses those two keys on the rules it carries,
 * and it reads the terminal live (at_exec), which the exec record about to
 * be written will report.
 */
static __always_inline void task_keys_filter_at(struct selector_cfg *sel, struct task_struct *task,
						struct match_ctx *mc, const int at_exec)
{
	if (!sel->task_filter || !mc->candidates)
		return;
	__u32 zero = 0;
	struct task_key_cfg *tk = bpf_map_lookup_elem(&task_keys, &zero);
	if (!tk)
		return;
	__u32 k = mc->kind & (KIND_MAX - 1);
	__u64 c = mc->candidates;
	__u64 nr = tk->name_rules[k], pr = tk->pname_rules[k], tr = tk->tty_rules[k], ntr = tk->notty_rules[k];
	__u64 cr = tk->cap_rules[k], ar = tk->aname_rules[k];
	if (!(c & (nr | pr | tr | ntr | cr | ar)))
		return;
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	struct proc_info *pi = bpf_map_lookup_elem(&proc_bin, &tgid);
	int rec = pi && pi->comm[0];
	char name[COMM_LEN] = {}; /* a hash key: NUL padded (proc_info names are) */
	if (c & nr) {
		if (rec)
			__builtin_memcpy(name, pi->comm, COMM_LEN);
		else
			task_comm(name, BPF_CORE_READ(task, group_leader));
		c &= ~nr | task_name_rules(k, 0, name);
	}
	if (c & pr) {
		struct task_struct *parent = BPF_CORE_READ(task, real_parent);
		__u32 ptgid = BPF_CORE_READ(parent, tgid);
		struct proc_info *pp = bpf_map_lookup_elem(&proc_bin, &ptgid);
		__builtin_memset(name, 0, COMM_LEN); /* a hash key: NUL padded */
		if (pp && pp->comm[0])
			__builtin_memcpy(name, pp->comm, COMM_LEN);
		else
			task_comm(name, BPF_CORE_READ(parent, group_leader));
		__u64 ok = task_name_rules(k, 1, name);
		if (!pi || pi->fork_ppid != ptgid)
			/* Re-parented (or user space's parent is not known here):
			 * user space decides on its own parent. */
			ok |= tk->pname_cond[k];
		c &= ~pr | ok;
	}
	if (c & (tr | ntr)) {
		int tty = rec && !at_exec ? pi->tty != 0 : BPF_CORE_READ(task, signal, tty) != 0;
		c &= tty ? ~ntr : ~tr;
	}
	if (c & cr) {
		__u64 caps = 0;
		if (rec) {
			caps = pi->cap_eff;
		} else {
			const struct cred *cred = BPF_CORE_READ(task, cred);
			bpf_probe_read_kernel(&caps, 8, __builtin_preserve_access_index(&cred->cap_effective));
		}
		mc->caps = caps;
	}
	struct anc_walk *w;
	if ((c & ar) && (w = bpf_map_lookup_elem(&anc_walks, &zero))) {
		/* Last: the walk reads two map entries per generation. */
		w->t = (__u64)task;
		w->want = c & ar;
		w->found = 0;
		w->kind = k;
		w->read = 0;
		w->ended = 0;
		bpf_loop(ANC_DEPTH, anc_step, NULL, 0);
		__u64 pass = w->found;
		if (w->read == ANC_DEPTH && !w->ended && (tk->aname_open[k] & c)) {
			/* The chain goes on past the walk (the last one read is not init):
			 * user space decides the rules that ask for that. */
			struct task_struct *last = TYPED(struct task_struct, w->t);
			struct task_struct *lp = DR(struct task_struct, last, real_parent);
			if (lp && DR(struct task_struct, lp, tgid))
				pass |= tk->aname_open[k];
		}
		c &= ~ar | pass;
	}
	mc->candidates = c;
}

static __always_inline void task_keys_filter(struct selector_cfg *sel, struct task_struct *task, struct match_ctx *mc)
{
	task_keys_filter_at(sel, task, mc, 0);
}

/*
 * task_prefilter: task_keys_filter on the rules of want of a kind before any
 * per-event work; returns the rules left and sets *caps for match_step.
 */
static __always_inline __u64 task_prefilter(struct selector_cfg *sel, struct task_struct *task, __u32 kind,
					     __u64 want, __u64 *caps)
{
	struct match_ctx mc = {.kind = kind, .candidates = want};
	task_keys_filter(sel, task, &mc);
	*caps = mc.caps;
	return mc.candidates;
}

static __always_inline void fill_alert_task(struct vigil_alert *a, struct task_struct *task)
{
	a->hdr.ktime = bpf_ktime_get_boot_ns();
	a->hdr.flags = 0;
	__u64 pt = bpf_get_current_pid_tgid();
	a->pid = (__u32)pt;
	a->tgid = pt >> 32;
	a->ppid = BPF_CORE_READ(task, real_parent, tgid);
	__u64 ug = bpf_get_current_uid_gid();
	a->uid = (__u32)ug;
	a->gid = ug >> 32;
	a->euid = BPF_CORE_READ(task, cred, euid.val);
	a->cgroup_id = bpf_get_current_cgroup_id();
	a->start_boottime = BPF_CORE_READ(task, group_leader, start_boottime);
	/* The scratch record is shared by every sensor on a CPU: clear the file-only fields. */
	a->ino = 0;
	a->dev = 0;
	a->res = 0;
	a->raw_len = 0;
}

#define SIGKILL 9

#define MNT_CHAIN 32 /* mounts followed up to the namespace's root before giving up (then: a subtree) */

struct mnt_walk {
	struct mount *mnt;
	__u32 found;
	__u32 done;
};

/* One mount of the chain: a subtree mount ends the walk, so does the namespace's root. */
static long mnt_step(__u32 i, struct mnt_walk *c)
{
	struct mount *mnt = c->mnt;
	struct dentry *root = RD(struct mount, mnt, mnt.mnt_root);
	if (subtree_mount(mnt, root)) {
		c->found = 1;
		return 1;
	}
	struct mount *mp = RD(struct mount, mnt, mnt_parent);
	if (mp == mnt) {
		c->done = 1;
		return 1;
	}
	c->mnt = mp;
	return 0;
}

/*
 * through_subtree: a file under vfsmnt has a path through a subtree mount (not
 * exempt) somewhere up the chain of mounts, or the chain is too long to tell.
 * A bpf_loop, so that the verifier checks one step (an unrolled loop here made
 * the top-directory walk's states diverge).
 */
static __always_inline int through_subtree(struct vfsmount *vfsmnt)
{
	struct mnt_walk c = {.mnt = (struct mount *)((unsigned long)vfsmnt - bpf_core_field_offset(struct mount, mnt))};
	bpf_loop(MNT_CHAIN, mnt_step, &c, 0);
	return c.found || !c.done;
}

/*
 * top_dir_rules walks from a dentry up to the root of its mount namespace
 * (pointer reads only, no names copied) and returns the rules with a path
 * under its top-level component (top_dirs): the cheap test that spares most
 * opens the full path walk. "/" itself, a path too deep to tell, or a walk
 * through a subtree mount (a bind mount: the file's canonical path, which the
 * full walk looks up too, may be under any watched directory) return every
 * rule (fail closed); the mount chain is walked only while a rule of need is
 * not admitted by the top directory itself.
 */
static __always_inline __u64 top_dir_rules(struct vfsmount *vfsmnt, struct dentry *d, __u64 need, __u32 *partial)
{
	struct mount *mnt = TYPED(struct mount, (unsigned long)vfsmnt - bpf_core_field_offset(struct mount, mnt));
	struct dentry *root = RD(struct vfsmount, vfsmnt, mnt_root);
	struct dentry *child = 0;
	int top = 0;
	d = TYPED(struct dentry, d);
	/* *partial: a mount of the chain shows a subtree of its file system (its
	 * root is not its super block's). Only then can one be a bind mount that
	 * is not exempt, which through_subtree tells. Read on the way up, a load or
	 * two per mount crossed, so that the usual chain of whole file systems costs
	 * no second walk. (In map memory, which the verifier does not track: a
	 * flag on the stack would split the loop's states in two at each mount.) */
	*partial = 0;
	for (int i = 0; i < PATH_DEPTH; i++) {
		struct dentry *parent = DR(struct dentry, d, d_parent);
		if (d == root || d == parent) {
			struct super_block *sb = DR(struct dentry, root, d_sb);
			if (!sb || DR(struct super_block, sb, s_root) != root)
				*partial = 1;
			struct mount *mp = DR(struct mount, mnt, mnt_parent);
			if (d != root || mnt == mp) {
				top = 1;
				break;
			}
			d = DR(struct mount, mnt, mnt_mountpoint);
			mnt = mp;
			root = DR(struct mount, mp, mnt.mnt_root);
			continue;
		}
		child = d;
		d = parent;
	}
	if (!child || !top)
		return ~0ULL;
	__u32 len = RD(struct dentry, child, d_name.len);
	const unsigned char *name = RD(struct dentry, child, d_name.name);
	__u32 klen = len < TOP_KEY - 1 ? len : TOP_KEY - 1;
	/* The bucket of the name's first bytes and length first: a name with
	 * none of need's directories in its bucket needs no more. A zero byte
	 * among them is a load that faulted (a name has none): then the exact test. */
	__u64 w = load_word(name), r = ~0ULL;
	__u64 tail = klen < 8 ? ~0ULL << ((klen & 7) * 8) : 0;
	if (klen && !has_zero_byte(w | tail)) {
		__u32 b = top_bucket(w & ~tail, klen);
		__u64 *bm = bpf_map_lookup_elem(&top_buckets, &b);
		if (bm)
			r = *bm;
	}
	if (r & need) {
		struct top_key k = {};
		bpf_probe_read_kernel(k.name, klen & (TOP_KEY - 1), name);
		__u64 *m = bpf_map_lookup_elem(&top_dirs, &k);
		r = m ? *m : 0;
	}
	/* The mount chain only matters for rules of need the top directory left out. */
	if ((need & ~r) && *partial && through_subtree(vfsmnt))
		return ~0ULL;
	return r;
}

/*
 * top_filter keeps the rules of want that the top-directory test admits for
 * (mnt, dentry): those concerned by it (not in nontop_rules) and not already
 * matched by the file's identity (ids) must have a path under the file's top
 * directory. No walk when none of want is concerned.
 */
static __always_inline __u64 top_filter(struct selector_cfg *sel, struct vfsmount *mnt, struct dentry *dentry,
					__u64 want, __u64 ids, __u32 *partial)
{
	__u64 keep = sel->nontop_rules | ids, need = want & ~keep;
	if (!sel->top_filter || !need)
		return want;
	return want & (keep | top_dir_rules(mnt, dentry, need, partial));
}

#endif
