/* SPDX-License-Identifier: (MIT OR GPL-2.0) */
/* Shared helpers for Vigil sensors: event header, loss counters, path walking. */
#ifndef VIGIL_COMMON_H
#define VIGIL_COMMON_H

#include "vmlinux.h"
#include "bpf_helpers.h"
#include "bpf_core_read.h"
#include "bpf_tracing.h"

#define PATH_BUF 1024 /* bytes kept of a resolved path; power of two */
#define PATH_MASK (PATH_BUF - 1)
#define NAME_MAX_LEN 255
#define PATH_DEPTH 48 /* path components walked before giving up (flag TRUNC) */
#define CGROUP_NAME 128

/* Event opcodes: the first byte of every ring buffer record. */
enum vigil_op {
	OP_EXEC = 1,
	OP_EXIT = 2,
	OP_FORK = 3,
	OP_ITER = 4, /* a process found by the start-up task iterator */
	OP_ALERT = 5, /* a policy rule matched (struct vigil_alert) */
};

/* Flags on process records. */
enum vigil_flags {
	FLAG_TRUNC_PATH = 1 << 0,
	FLAG_TRUNC_ARGS = 1 << 1,
	FLAG_TRUNC_CWD = 1 << 2,
	FLAG_KTHREAD = 1 << 3,
	FLAG_NO_MM = 1 << 4,
	FLAG_LSM = 1 << 5,    /* alert from a BPF LSM hook: the operation's outcome, not the syscall's request */
	FLAG_FMOD_RET = 1 << 6, /* alert from an fmod_ret program on a security_* function: the same */
	FLAG_COMPAT = 1 << 7,   /* alert from a 32-bit (ia32) syscall: its number is an ia32 number */
	FLAG_IO_URING = 1 << 8, /* alert from an io_uring request's completion, not a syscall */
	/* (bits 9-11 left to other event kinds) */
	FLAG_ID_MATCH = 1 << 12,    /* a rule matched the file by identity (device, inode), not by its path */
	FLAG_OPEN_FAILED = 1 << 13, /* a failed open: no file, path is the caller's (raw), not resolved */
	FLAG_SUBTREE_MOUNT = 1 << 14, /* the path crossed a mount showing a subtree of its file system (a bind
				       * mount): the record carries the file's canonical path, or none when it
				       * could not be resolved (then prefix rules matched fail-closed) */
};

/* Loss and health counters, per CPU; user space sums them. */
enum vigil_counter {
	CNT_RINGBUF_FULL = 0, /* bpf_ringbuf_output failed: event lost in the kernel */
	CNT_SCRATCH_MISS = 1, /* per-CPU scratch lookup failed (should never happen) */
	CNT_ARGS_FAULT = 2,   /* argument memory could not be read */
	CNT_MAX = 8,
};

struct event_header {
	__u8 op;
	__u8 pad[3];
	__u32 flags;
	__u64 ktime; /* bpf_ktime_get_boot_ns() */
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, CNT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} counters SEC(".maps");

static __always_inline void count(__u32 which)
{
	__u64 *v = bpf_map_lookup_elem(&counters, &which);
	if (v)
		*v += 1;
}

/*
 * Wake the reader only once this many bytes wait in the ring buffer: a wakeup per
 * record costs the reader a context switch per event. The reader polls with a
 * short deadline, so a quiet ring is still drained promptly. Set at load time.
 */
const volatile __u64 wakeup_bytes = 0;

/* output copies a record into a ring buffer, counting it when the ring is full. */
static __always_inline long output(void *ring, void *data, __u64 size)
{
	__u64 flags = 0;
	if (wakeup_bytes)
		flags = bpf_ringbuf_query(ring, BPF_RB_AVAIL_DATA) + size >= wakeup_bytes ? BPF_RB_FORCE_WAKEUP
											 : BPF_RB_NO_WAKEUP;
	long err = bpf_ringbuf_output(ring, data, size, flags);
	if (err)
		count(CNT_RINGBUF_FULL);
	return err;
}

/* Kernels before 6.15 call the kernfs parent pointer "parent"; newer ones "__parent". */
struct kernfs_node___old {
	struct kernfs_node *parent;
} __attribute__((preserve_access_index));

static __always_inline struct kernfs_node *kn_parent(struct kernfs_node *kn)
{
	if (bpf_core_field_exists(struct kernfs_node___old, parent))
		return BPF_CORE_READ((struct kernfs_node___old *)kn, parent);
	return BPF_CORE_READ(kn, __parent);
}

/*
 * RD(type, p, field) reads one field (a dotted path within one struct) of the
 * kernel object p. Objects built with VIGIL_CORE_CAST (kernels with the
 * bpf_rdonly_cast kfunc, 6.2+) make p a read-only BTF pointer and read with a
 * direct load; the others with a bpf_probe_read_kernel helper call, several
 * times dearer. The hot paths (the open pre-filter, the path walk) read a dozen
 * fields per event. Both read the same relocated offsets.
 */
#ifdef VIGIL_CORE_CAST
extern void *bpf_rdonly_cast(const void *obj, __u32 btf_id) __ksym;
#define CAST(p, type) ((type *)bpf_rdonly_cast((const void *)(unsigned long)(p), bpf_core_type_id_kernel(type)))
#define RD(type, p, field) (CAST(p, type)->field)
/* TYPED makes p a read-only BTF pointer once; DR then reads a field of a
 * pointer that is one (cast or loaded through one), with no cast per read: a
 * walk from pointer to pointer. */
#define TYPED(type, p) CAST(p, type)
#define DR(type, p, field) ((p)->field)
#else
#define RD(type, p, field) BPF_CORE_READ((type *)(p), field)
#define TYPED(type, p) ((type *)(p))
#define DR(type, p, field) BPF_CORE_READ((type *)(p), field)
#endif

/*
 * load_word: the 8 bytes at kernel address p. With VIGIL_CORE_CAST a direct
 * load through a kernel struct whose first member is one word (rb_node); a
 * fault there reads 0 instead of the bytes, which callers that need every byte
 * tell by a zero byte where none can be (a name) and then read again with
 * bpf_probe_read_kernel. Otherwise that helper.
 */
static __always_inline __u64 load_word(const void *p)
{
#ifdef VIGIL_CORE_CAST
	return CAST(p, struct rb_node)->__rb_parent_color;
#else
	__u64 w = 0;
	bpf_probe_read_kernel(&w, sizeof(w), p);
	return w;
#endif
}

#define ONES 0x0101010101010101ULL
#define HIGHS 0x8080808080808080ULL

/* has_zero_byte: some byte of w is 0 (exact: the SWAR test). */
static __always_inline int has_zero_byte(__u64 w)
{
	return ((w - ONES) & ~w & HIGHS) != 0;
}

#define MNT_SUB 4 /* subtree mounts whose ids a walk keeps (more: none of them is exempt) */

/*
 * The mounts a walk crossed that show a subtree of their file system (the
 * mount's root dentry is not its superblock's root: a bind mount of a
 * directory or a file, a btrfs subvolume, a container's bind-mounted
 * /etc/resolv.conf): a file under one can have a path no rule names.
 */
struct walk_mounts {
	__u32 n; /* how many (may exceed MNT_SUB) */
	__u32 ids[MNT_SUB]; /* the first MNT_SUB mount ids (struct mount.mnt_id, as in mountinfo) */
};

/* Scratch space for walking a path backwards: the result is assembled from the end. */
struct path_scratch {
	char buf[2 * PATH_BUF]; /* room for any masked offset plus any length */
	struct walk_mounts sub; /* in the map, not the walk's stack context: the verifier need not track it */
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct path_scratch);
} path_scratch_map SEC(".maps");

struct walk_ctx {
	struct vfsmount *vfsmnt;
	struct mount *mnt;
	struct dentry *dentry;
	int pos;
	__u32 trunc;
	__u32 done;
	__u32 fs_only; /* walk up to the file system's root, ignoring mounts */
};

/* note_subtree records the mount in the walk when its root is not its file system's root. */
static __always_inline void note_subtree(struct path_scratch *s, struct mount *mnt, struct dentry *mnt_root)
{
	struct super_block *sb = RD(struct dentry, mnt_root, d_sb);
	if (!sb || RD(struct super_block, sb, s_root) == mnt_root)
		return;
	__u32 n = s->sub.n;
	if (n < MNT_SUB)
		s->sub.ids[n & (MNT_SUB - 1)] = RD(struct mount, mnt, mnt_id);
	s->sub.n = n + 1;
}

/* One step of the walk: prepend one component or cross one mount. */
static long walk_step(__u32 i, struct walk_ctx *w)
{
	__u32 zero = 0;
	struct path_scratch *s = bpf_map_lookup_elem(&path_scratch_map, &zero);
	if (!s)
		return 1;
	/* Copy out of the context first: BPF_CORE_READ on w->... would relocate walk_ctx. */
	struct dentry *dentry = w->dentry;
	struct vfsmount *vfsmnt = w->vfsmnt;
	struct mount *mnt = w->mnt;
	struct dentry *parent = RD(struct dentry, dentry, d_parent);

	if (w->fs_only) {
		if (dentry == parent) {
			w->done = 1; /* reached the root of the file system (or of a disconnected tree) */
			return 1;
		}
	} else {
		struct dentry *mnt_root = RD(struct vfsmount, vfsmnt, mnt_root);
		if (dentry == mnt_root || dentry == parent) {
			struct mount *mnt_parent = RD(struct mount, mnt, mnt_parent);
			if (dentry == mnt_root)
				note_subtree(s, mnt, mnt_root);
			if (dentry != mnt_root || mnt == mnt_parent) {
				w->done = 1; /* reached the root of the namespace */
				return 1;
			}
			w->dentry = RD(struct mount, mnt, mnt_mountpoint);
			w->mnt = mnt_parent;
			w->vfsmnt = (struct vfsmount *)((unsigned long)mnt_parent + bpf_core_field_offset(struct mount, mnt));
			return 0;
		}
	}
	__u32 len = RD(struct dentry, dentry, d_name.len) & NAME_MAX_LEN;
	const unsigned char *name = RD(struct dentry, dentry, d_name.name);
	int pos = w->pos;
	if (pos < 0 || pos > PATH_BUF - 1 || (int)len + 1 > pos) {
		w->trunc = 1;
		return 1;
	}
	pos -= len;
	bpf_probe_read_kernel(&s->buf[pos & PATH_MASK], len, name);
	pos -= 1;
	s->buf[pos & PATH_MASK] = '/';
	w->pos = pos;
	w->dentry = parent;
	return 0;
}

/* walk_copy copies the path assembled in the scratch from pos to its end into out[PATH_BUF]. */
static __always_inline int walk_copy(struct path_scratch *s, int pos, char *out)
{
	if (pos == PATH_BUF - 1) {
		pos -= 1;
		s->buf[pos & PATH_MASK] = '/';
	}
	if (pos < 0 || pos > PATH_BUF - 1)
		return 0;
	__u32 n = (PATH_BUF - pos) & PATH_MASK; /* includes the NUL */
	bpf_probe_read_kernel(out, n, &s->buf[pos & PATH_MASK]);
	return n > 0 ? n - 1 : 0;
}

/*
 * resolve_path_mounts writes the absolute path of (mnt, dentry) into
 * out[PATH_BUF], NUL terminated, as seen from the root of the task's mount
 * namespace (a container's rootfs shows as /). Walks dentries and crosses
 * mounts like d_path(), bounded by PATH_DEPTH steps, with bpf_loop so the
 * verifier checks one step, not all of them. Returns the length written
 * (without NUL) and sets *trunc when components were left out. sub, when not
 * 0, gets the subtree mounts the walk crossed.
 */
static __always_inline int resolve_path_mounts(struct vfsmount *vfsmnt, struct dentry *dentry, char *out,
					       __u32 *trunc, struct walk_mounts *sub)
{
	__u32 zero = 0;
	struct path_scratch *s = bpf_map_lookup_elem(&path_scratch_map, &zero);
	*trunc = 0;
	out[0] = 0;
	if (sub)
		sub->n = 0;
	if (!s)
		return 0;
	s->buf[PATH_BUF - 1] = 0;
	s->sub.n = 0;
	struct walk_ctx w = {
		.vfsmnt = vfsmnt,
		.mnt = (struct mount *)((unsigned long)vfsmnt - bpf_core_field_offset(struct mount, mnt)),
		.dentry = dentry,
		.pos = PATH_BUF - 1,
	};
	if (dentry && vfsmnt) {
		long n = bpf_loop(PATH_DEPTH, walk_step, &w, 0);
		if (w.trunc || (!w.done && n == PATH_DEPTH))
			*trunc = 1;
	}
	if (sub)
		*sub = s->sub;
	return walk_copy(s, w.pos, out);
}

static __always_inline int resolve_path(struct vfsmount *vfsmnt, struct dentry *dentry, char *out, __u32 *trunc)
{
	return resolve_path_mounts(vfsmnt, dentry, out, trunc, 0);
}

/*
 * resolve_fs_path writes into out[PATH_BUF] the path of dentry from the root of
 * its file system (d_parent up to the superblock's root, through every mount
 * point), after prefix[plen] (where that root is mounted: "" for "/"). Returns
 * the length (without NUL), or -1 when it cannot: deeper than PATH_DEPTH,
 * longer than PATH_BUF, or a tree that does not end at the superblock's root.
 */
static __always_inline int resolve_fs_path(struct dentry *dentry, const char *prefix, __u32 plen, char *out)
{
	__u32 zero = 0;
	struct path_scratch *s = bpf_map_lookup_elem(&path_scratch_map, &zero);
	out[0] = 0;
	if (!s || !dentry)
		return -1;
	s->buf[PATH_BUF - 1] = 0;
	struct walk_ctx w = {.dentry = dentry, .pos = PATH_BUF - 1, .fs_only = 1}; /* no mount is read */
	struct super_block *sb = RD(struct dentry, dentry, d_sb);
	if (!sb)
		return -1;
	bpf_loop(PATH_DEPTH, walk_step, &w, 0);
	if (w.trunc || !w.done || w.dentry != RD(struct super_block, sb, s_root))
		return -1;
	int pos = w.pos; /* PATH_BUF - 1 for the root itself: the prefix alone, or "/" */
	plen &= 0xff;
	if ((int)plen > pos)
		return -1;
	pos -= plen;
	if (plen)
		bpf_probe_read_kernel(&s->buf[pos & PATH_MASK], plen, prefix);
	return walk_copy(s, pos, out);
}

#endif
