/* SPDX-License-Identifier: (MIT OR GPL-2.0) */
/* Alert construction shared by the file, network and syscall sensors. */
#ifndef VIGIL_ALERT_H
#define VIGIL_ALERT_H

#include "policy.h"
#include "compat.h"

struct alert_scratch {
	struct vigil_alert a;
	struct bin_key key;
	struct walk_mounts sub; /* the subtree mounts of the last path walk */
	__u32 subtree;          /* path_rules: the walk crossed one (FLAG_SUBTREE_MOUNT) */
	struct name_key nkey;
	char name[RAW_BUF + 8]; /* the end of a file name, in order (room for any masked length and a substring scan's last word) */
	/* name_filter for path_rules: the rules whose name filters hold only on
	 * the name of the path as opened, only on the canonical path's (a file
	 * or directory bind-mounted under another name) */
	__u64 only_open;
	__u64 only_canon;
	__u32 top_partial; /* top_dir_rules: the mount chain has a mount of a subtree */
	__u32 pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct alert_scratch);
} alert_scratch_map SEC(".maps");

/* Force BTF emission of the record type for bpf2go. */
const struct vigil_alert *unused_vigil_alert __attribute__((unused));

static __always_inline struct alert_scratch *alert_scratch(void)
{
	__u32 zero = 0;
	struct alert_scratch *s = bpf_map_lookup_elem(&alert_scratch_map, &zero);
	if (!s)
		count(CNT_SCRATCH_MISS);
	return s;
}

/* send_alert applies a kill and emits the alert (unless it is count-only). denied
 * says the hook itself refused the operation. */
static __always_inline void send_alert_sig(struct vigil_alert *a, struct match_ctx *mc, __u8 emit_all, __u8 denied,
					   __u8 can_signal)
{
	a->hdr.op = OP_ALERT;
	a->rules = mc->matched;
	a->action = mc->any ? mc->action : ACT_POST;
	a->applied = denied;
	if (can_signal && mc->any && mc->action == ACT_KILL && mc->enforce) {
		bpf_send_signal(SIGKILL);
		a->applied = 1;
	}
	if (!emit_all && mc->action == ACT_COUNT)
		return; /* counted in rule_hits; nothing crosses the ring buffer */
	__u32 n = a->path_len;
	if (n > PATH_BUF - 1)
		n = PATH_BUF - 1;
	__u64 size = offsetof(struct vigil_alert, path) + n + 1;
	__u32 r = a->raw_len;
	if (r) {
		/* The raw path follows the whole path buffer: only records of rules that ask for it. */
		if (r > RAW_BUF - 1)
			r = RAW_BUF - 1;
		size = offsetof(struct vigil_alert, raw) + r + 1;
	}
	__u32 c = a->canon_len;
	if (c && (a->hdr.flags & FLAG_SUBTREE_MOUNT)) {
		/* The canonical path follows the raw buffer: only opens through a subtree mount. */
		if (c > PATH_BUF - 1)
			c = PATH_BUF - 1;
		size = offsetof(struct vigil_alert, canon) + c + 1;
	}
	output(&events, a, size);
}

#define O_ACCMODE 00000003
#define O_WRONLY 00000001
#define O_RDWR 00000002

/* fd_file returns the file behind a descriptor of a task, or 0. */
static __always_inline struct file *fd_file(struct task_struct *task, long fd)
{
#ifdef VIGIL_CORE_CAST
	struct fdtable *fdt = CAST(task, struct task_struct)->files->fdt;
	struct file **fds = fdt->fd;
	unsigned int max = fdt->max_fds;
#else
	struct file **fds = BPF_CORE_READ(task, files, fdt, fd);
	unsigned int max = BPF_CORE_READ(task, files, fdt, max_fds);
#endif
	if (fd < 0 || fd >= max)
		return 0;
	/* A load, not a helper call: a fault reads 0, which is no file (as the
	 * helper's failure was). */
	return (struct file *)load_word(&fds[fd]);
}

/*
 * file_identity reads the identity of an inode: its number and its superblock's
 * device (the kernel's encoding, MAJOR << 20 | MINOR). id_rules returns the
 * rules whose exact paths resolved to that identity at compile time (0 when no
 * rule has one: then no lookup at all).
 */
static __always_inline void file_identity(struct inode *inode, __u64 *ino, __u32 *dev)
{
	*ino = 0;
	*dev = 0;
	if (!inode)
		return;
	*ino = RD(struct inode, inode, i_ino);
	struct super_block *sb = RD(struct inode, inode, i_sb);
	if (sb)
		*dev = RD(struct super_block, sb, s_dev);
}

static __always_inline __u64 id_rules(struct selector_cfg *sel, __u64 ino, __u32 dev)
{
	if (!sel->id_filter || !ino)
		return 0;
	/* Most files have no rule identity: one bit of file_id_bits says so,
	 * without hashing the key. */
	__u32 h = id_bit(ino, dev), w = h / 64;
	__u64 *bits = bpf_map_lookup_elem(&file_id_bits, &w);
	if (bits && !(*bits & (1ULL << (h & 63))))
		return 0;
	struct file_id k = {.ino = ino, .dev = dev};
	__u64 *m = bpf_map_lookup_elem(&file_ids, &k);
	return m ? *m : 0;
}

/* open_access maps open flags to rule access bits: 1 read, 2 write. */
static __always_inline __u32 open_access(__u32 flags)
{
	__u32 acc = flags & O_ACCMODE;
	return ((acc + 1) & 3) | ((acc >> 1) & acc & 1);
}

/*
 * path_lookup resolves the path of a dentry into the alert and returns the rules
 * whose paths match it (the value in an LPM trie of rules), or 0. path_rules and
 * file_rules look up file_paths for a dentry or an open file; the LSM exec hook
 * looks up exec_binaries. Shared by the syscall-exit and LSM sensors.
 */
static __always_inline __u64 path_lookup(struct alert_scratch *s, void *trie, struct vfsmount *mnt,
					  struct dentry *dentry, __u32 *trunc)
{
	struct vigil_alert *a = &s->a;
	a->path_len = resolve_path_mounts(mnt, dentry, a->path, trunc, &s->sub);
	__u32 n = a->path_len;
	if (n > BIN_KEY - 1)
		n = BIN_KEY - 1;
	bpf_probe_read_kernel(s->key.path, BIN_KEY, a->path);
	s->key.prefixlen = (n + 1) * 8; /* with the NUL: exact-path entries match only this path */
	__u64 *m = bpf_map_lookup_elem(trie, &s->key);
	return m ? *m : 0;
}

/*
 * canon_rules: for a file reached through a subtree mount (a bind mount of a
 * directory or of a file), the rules of its canonical path: where its file
 * system's root is mounted in the host's mount namespace (fs_roots) followed by
 * its path from that root, looked up in the same trie (a match there is a
 * match). The canonical path goes in the alert (canon). When it cannot be
 * resolved (the device is mounted whole nowhere in the host's namespace, or the
 * path is too deep or too long) every prefix rule is a candidate: fail closed,
 * the alert carries the flag and no canonical path.
 */
static __always_inline __u64 canon_rules(struct alert_scratch *s, struct dentry *dentry)
{
	struct vigil_alert *a = &s->a;
	a->canon_len = 0;
	s->subtree = 0;
	if (!s->sub.n || !subtree_route(&s->sub))
		return 0;
	s->subtree = 1;
	struct super_block *sb = RD(struct dentry, dentry, d_sb);
	__u32 dev = sb ? RD(struct super_block, sb, s_dev) : 0;
	struct fs_root *r = bpf_map_lookup_elem(&fs_roots, &dev);
	int n = r ? resolve_fs_path(dentry, r->path, r->len, a->canon) : -1;
	if (n <= 0) {
		struct selector_cfg *sel = get_selector();
		return sel ? sel->prefix_rules : 0;
	}
	a->canon_len = n;
	if (n > BIN_KEY - 1)
		n = BIN_KEY - 1;
	bpf_probe_read_kernel(s->key.path, BIN_KEY, a->canon);
	s->key.prefixlen = (n + 1) * 8;
	__u64 *m = bpf_map_lookup_elem(&file_paths, &s->key);
	return m ? *m : 0;
}

static __always_inline __u64 path_rules(struct alert_scratch *s, struct vfsmount *mnt, struct dentry *dentry,
					 __u32 *trunc)
{
	__u64 m = path_lookup(s, &file_paths, mnt, dentry, trunc);
	__u64 c = canon_rules(s, dentry);
	/* Each path with the rules whose name filters hold on its name (name_filter). */
	__u64 r = (m & ~s->only_canon) | (c & ~s->only_open);
	s->only_open = 0;
	s->only_canon = 0;
	return r;
}

static __always_inline __u64 file_rules(struct alert_scratch *s, struct file *f, __u32 *trunc)
{
	return path_rules(s, RD(struct file, f, f_path.mnt), RD(struct file, f, f_path.dentry), trunc);
}

static __always_inline void send_alert(struct vigil_alert *a, struct match_ctx *mc, __u8 emit_all, __u8 denied)
{
	send_alert_sig(a, mc, emit_all, denied, 1);
}

/*
 * The substring filters (name_contains, raw_contains) over a buffer of the
 * scratch (the file name or the raw path), in two passes. The first looks at
 * the buffer eight bytes at a time and marks the words where a pattern may
 * start: the pattern's first two bytes next to each other somewhere in the
 * word (its first byte, for a one-byte pattern), a SWAR zero-byte test. Most
 * paths have no such word and cost a few instructions per word. The second
 * tests each position of the marked words: the eight bytes from there, cut to
 * the pattern's length, against the pattern. A match must end within len:
 * the buffer's bytes past it are stale.
 */
struct substr_scan {
	__u64 found;
	__u32 hits; /* the words where a pattern may start */
	__u32 left; /* second pass: the marked words not yet tested */
	__u32 off;  /* second pass: the word being tested */
	__u32 len;
	__u32 target;
	__u32 pad;
};

/* substr_load: the eight bytes at off of a target's buffer (off < RAW_BUF). */
static __always_inline __u64 substr_load(struct alert_scratch *s, __u32 target, __u32 off)
{
	barrier_var(off); /* keep the mask: the verifier needs it, the compiler may prove it redundant */
	off &= RAW_BUF - 1;
	if (target == SUBSTR_RAW)
		return *(const __u64 *)(s->a.raw + off);
	return *(const __u64 *)(s->name + off);
}

/* First pass: one word. */
static long substr_word(__u32 i, struct substr_scan *c)
{
	__u32 off = i * 8;
	if (off >= c->len || i >= 32)
		return 1;
	__u32 zero = 0, tk = c->target;
	struct alert_scratch *s = bpf_map_lookup_elem(&alert_scratch_map, &zero);
	struct substr_table *t = bpf_map_lookup_elem(&file_substrs, &tk);
	if (!s || !t)
		return 1;
	__u64 word = substr_load(s, tk, off);
	__u64 next = substr_load(s, tk, off + 8);
	__u64 shifted = (word >> 8) | (next << 56); /* the byte after each byte of word */
	for (int j = 0; j < SUBSTR_MAX; j++) {
		if (j >= t->count)
			break;
		__u64 v = t->pats[j].val;
		__u64 x = word ^ ((v & 0xff) * ONES);
		if (t->pats[j].shift < 56) /* two bytes or more: the pair */
			x |= shifted ^ (((v >> 8) & 0xff) * ONES);
		if (has_zero_byte(x)) {
			c->hits |= 1U << (i & 31);
			return 0;
		}
	}
	return 0;
}

/* Second pass: one position of a marked word. */
static long substr_pos(__u32 i, struct substr_scan *c)
{
	if (!(i & 7)) {
		__u32 left = c->left;
		if (!left)
			return 1;
		c->left = left & (left - 1);
		c->off = low_bit(left) * 8;
	}
	__u32 pos = c->off + (i & 7);
	if (pos >= c->len)
		return 0;
	__u32 zero = 0, tk = c->target;
	struct alert_scratch *s = bpf_map_lookup_elem(&alert_scratch_map, &zero);
	struct substr_table *t = bpf_map_lookup_elem(&file_substrs, &tk);
	if (!s || !t)
		return 1;
	__u64 win = substr_load(s, tk, pos);
	for (int j = 0; j < SUBSTR_MAX; j++) {
		if (j >= t->count)
			break;
		struct substr_pat *pt = &t->pats[j];
		__u32 sh = pt->shift & 63;
		if (pos + ((64 - sh) >> 3) <= c->len && (win << sh) == (pt->val << sh))
			c->found |= pt->rules;
	}
	return 0;
}

static __always_inline __u64 substr_found(__u32 target, __u32 len)
{
	struct substr_scan c = {.len = len, .target = target};
	/* One step per word of len (substr_word stops at the buffer's end); a
	 * name of one word (most) without the loop. */
	if (len <= 8)
		substr_word(0, &c);
	else
		bpf_loop((len + 7) / 8, substr_word, &c, 0);
	if (!c.hits)
		return 0;
	c.left = c.hits;
	bpf_loop(8 * popcount64(c.hits), substr_pos, &c, 0);
	return c.found;
}

/*
 * read_name_end copies the last k bytes (1..NAME_KEY) of a name of len bytes
 * into the scratch's name buffer, in order, and returns 0 (< 0: unreadable).
 * With direct loads: whole words of the name, the last one ending where the
 * name ends (so no load reads past it; a name shorter than a word is read
 * from the 8 bytes ending there, which a dentry's inline name or an external
 * name's header precedes). A zero byte among the name's is a load that
 * faulted: then the helper reads it again.
 */
static __always_inline long read_name_end(struct alert_scratch *s, const unsigned char *name, __u32 len, __u32 k)
{
#ifdef VIGIL_CORE_CAST
	const unsigned char *end = name + len;
	int bad = 0;
	if (k < 8) {
		__u64 w = load_word(end - 8) >> (((8 - k) & 7) * 8);
		bad = has_zero_byte(w | (~0ULL << ((k & 7) * 8)));
		*(__u64 *)s->name = w;
	} else {
		const unsigned char *src = end - k;
		for (int j = 0; j < NAME_KEY / 8; j++) {
			if (j * 8 + 8 > k)
				break;
			__u64 w = load_word(src + j * 8);
			bad |= has_zero_byte(w);
			*(__u64 *)(s->name + j * 8) = w;
		}
		__u64 w = load_word(end - 8);
		bad |= has_zero_byte(w);
		*(__u64 *)(s->name + ((k - 8) & (NAME_KEY - 1))) = w;
	}
	if (!bad)
		return 0;
#endif
	return bpf_probe_read_kernel(s->name, k & (2 * NAME_KEY - 1), name + (len - k));
}

/*
 * name_test keeps the rules of want whose file-name filters (name_suffixes,
 * name_contains) hold for the name of dentry. It reads the name's last
 * NAME_KEY bytes: a suffix test is exact for any length (a suffix is at most
 * NAME_KEY bytes); a substring test on a longer name cannot be decided and
 * passes (fail closed), as does a name that cannot be read.
 */
static __always_inline __u64 name_test(struct selector_cfg *sel, struct alert_scratch *s, struct dentry *dentry,
				       __u64 want)
{
	if (dentry == RD(struct dentry, dentry, d_parent))
		return want;
	__u32 len = RD(struct dentry, dentry, d_name.len);
	const unsigned char *name = RD(struct dentry, dentry, d_name.name);
	if (!len || !name)
		return want;
	__u32 k = len < NAME_KEY ? len : NAME_KEY;
	if (read_name_end(s, name, len, k) < 0)
		return want;
	__u64 ok = ~0ULL;
	if (sel->suffix_rules & want) {
		__u32 plen = k;
		for (int j = 0; j < NAME_KEY; j++) {
			if (j < k) {
				s->nkey.rname[j] = s->name[(k - 1 - j) & (NAME_KEY - 1)];
				continue;
			}
			s->nkey.rname[j] = '/'; /* the whole name fits: "/" before it */
			plen++;
			break;
		}
		s->nkey.prefixlen = plen * 8;
		__u64 *m = bpf_map_lookup_elem(&file_suffixes, &s->nkey);
		ok &= ~sel->suffix_rules | (m ? *m : 0);
	}
	if ((sel->name_sub_rules & want) && len <= NAME_KEY)
		ok &= ~sel->name_sub_rules | substr_found(SUBSTR_NAME, k);
	return want & ok;
}

struct canon_name {
	struct dentry *d;
	__u64 want;
	__u64 ok;
};

/* The name test of a canonical path's final name, in a bpf_loop callback: the
 * verifier checks it apart from the open's own name test. */
static long canon_name_step(__u32 i, struct canon_name *c)
{
	__u32 zero = 0;
	struct selector_cfg *sel = get_selector();
	struct alert_scratch *s = bpf_map_lookup_elem(&alert_scratch_map, &zero);
	c->ok = sel && s ? name_test(sel, s, c->d, c->want) : c->want;
	return 1;
}

/*
 * name_filter keeps the rules of want whose file-name filters hold for the
 * final component of (mnt, dentry) (name_test); rules without one pass. A
 * mount's root is named by its mountpoint, as the resolved path names it (one
 * level: a mount on a mount's root fails closed); the root "/" has no name and
 * passes no name filter.
 *
 * A file reached through a bind mount has a canonical path too (canon_rules),
 * and a rule holds on either path, its name filters tested on that path's
 * name. Under a bind-mounted directory both paths end in the same name. The
 * root of a subtree mount (a file or a directory bind-mounted itself, under
 * another name) is the exception: its canonical path ends in its own name.
 * Then the rules that pass on one name only are kept in the scratch
 * (only_open, only_canon) for path_rules to pair each with its path, and the
 * rules passing on either name are returned.
 */
static __always_inline __u64 name_filter(struct selector_cfg *sel, struct alert_scratch *s, struct vfsmount *mnt,
					 struct dentry *dentry, __u64 want)
{
	s->only_open = 0;
	s->only_canon = 0;
	__u64 named = (sel->suffix_rules | sel->name_sub_rules) & want;
	if (!named)
		return want;
	__u64 opened = want, canon = 0;
	__u32 test = 1, sub = 0;
	if (dentry == RD(struct vfsmount, mnt, mnt_root)) {
		/* A mount's root (a file bind-mounted onto another): the path names it
		 * by its mountpoint, the dentry in the parent mount. */
		struct mount *m = (struct mount *)((unsigned long)mnt - bpf_core_field_offset(struct mount, mnt));
		sub = subtree_mount(m, dentry);
		if (sub) {
			struct canon_name c = {.d = dentry, .want = want, .ok = want};
			bpf_loop(1, canon_name_step, &c, 0);
			canon = c.ok;
		}
		struct mount *mp = RD(struct mount, m, mnt_parent);
		if (mp == m) {
			opened = want & ~named; /* the path "/": no name, no suffix or substring */
			test = 0;
		} else {
			dentry = RD(struct mount, m, mnt_mountpoint);
			if (dentry == RD(struct mount, mp, mnt.mnt_root))
				test = 0; /* mounted on a mount's root in turn: not told here (fail closed) */
		}
	}
	if (test)
		opened = name_test(sel, s, dentry, want);
	if (!sub)
		return opened;
	s->only_open = opened & ~canon;
	s->only_canon = canon & ~opened;
	return opened | canon;
}

/*
 * raw_filter keeps the rules of want whose raw_contains patterns occur in the
 * path the caller passed (read into the alert's raw buffer; *n is what
 * bpf_probe_read_user_str returned, 0 when not read). No raw path (io_uring,
 * open_by_handle_at), an unreadable one or one that may not fit RAW_BUF cannot
 * be decided: those rules pass (fail closed).
 */
static __always_inline __u64 raw_filter(struct selector_cfg *sel, struct alert_scratch *s, const char *raw, __u64 want,
					long *n)
{
	__u64 rr = sel->raw_sub_rules & want;
	if (!rr || !raw)
		return want;
	*n = bpf_probe_read_user_str(s->a.raw, RAW_BUF, raw);
	if (*n <= 1 || *n >= RAW_BUF)
		return want;
	return want & (~rr | substr_found(SUBSTR_RAW, *n - 1));
}

/*
 * Which hook reports: a syscall tracepoint, a BPF LSM hook, or an fmod_ret
 * program on a security_* function. The last two can refuse.
 */
#define HOOK_SYSCALL 0
#define HOOK_LSM 1
#define HOOK_FMODRET 2

static __always_inline __u32 hook_flag(const int hook)
{
	return hook == HOOK_LSM ? FLAG_LSM : hook == HOOK_FMODRET ? FLAG_FMOD_RET : 0;
}

/*
 * send_verdict emits the alert of a match and returns 1, or, when a security hook
 * meets a deny rule in enforce mode, emits it as applied and returns 2: the hook
 * then refuses the operation with EPERM.
 */
static __always_inline int send_verdict(struct vigil_alert *a, struct match_ctx *mc, const int hook)
{
	if (hook != HOOK_SYSCALL && mc->action == ACT_DENY && mc->enforce) {
		send_alert(a, mc, 0, 1);
		return 2;
	}
	send_alert(a, mc, 0, 0);
	return 1;
}

/*
 * file_decide takes the rules of mask for one file event of a task that policies
 * pol select, on a resolved (mnt, dentry): the top-directory test, the path's
 * rules, the rules' own filters, and the alert. match_access is the event's
 * access (read 1, write 2; 0 for the path events), access what the alert reports
 * (open flags, mode, rename side), xflags flags the alert carries (FLAG_COMPAT).
 * Returns 0 (no rule), 1 (reported) or 2 (deny:
 * only a security hook, which then refuses with EPERM).
 */
static __always_inline int file_decide(struct selector_cfg *sel, struct task_struct *task, __u64 pol, __u64 mask,
				       struct vfsmount *mnt, struct dentry *dentry, __u8 event, __u32 match_access,
				       __u32 access, const int hook, __u32 xflags)
{
	struct alert_scratch *s = alert_scratch();
	if (!s)
		return 0;
	mask = name_filter(sel, s, mnt, dentry, mask);
	if (!mask)
		return 0;
	__u64 ino = 0, ids = 0;
	__u32 dev = 0;
	if (sel->id_filter) {
		file_identity(RD(struct dentry, dentry, d_inode), &ino, &dev);
		ids = id_rules(sel, ino, dev) & mask;
	}
	mask = top_filter(sel, mnt, dentry, mask, ids, &s->top_partial);
	if (!mask)
		return 0;
	__u32 trunc = 0;
	__u64 paths = path_rules(s, mnt, dentry, &trunc);
	if (trunc)
		paths |= sel->prefix_rules; /* unresolved: fail closed */
	struct match_ctx mc = {
		.kind = KIND_FILE,
		.event = event,
		.policies = pol,
		.access = match_access,
		.oflags = event == EV_FILE_OPEN ? access : 0,
		.candidates = (paths | ids | sel->any_filter[KIND_FILE]) & mask,
	};
	task_keys_filter(sel, task, &mc);
	if (!mc.candidates)
		return 0;
	match_rules(&mc);
	if (!mc.any)
		return 0;
	struct vigil_alert *a = &s->a;
	fill_alert_task(a, task);
	if (!ino)
		file_identity(RD(struct dentry, dentry, d_inode), &ino, &dev); /* for the record only */
	a->ino = ino;
	a->dev = dev;
	if (trunc)
		a->hdr.flags |= FLAG_TRUNC_PATH;
	if (s->subtree)
		a->hdr.flags |= FLAG_SUBTREE_MOUNT;
	if (mc.matched & ids & ~(paths | sel->any_filter[KIND_FILE]))
		a->hdr.flags |= FLAG_ID_MATCH;
	a->hdr.flags |= hook_flag(hook) | xflags;
	a->kind = KIND_FILE;
	a->event = event;
	a->access = access;
	a->family = 0;
	return send_verdict(a, &mc, hook);
}

#endif
