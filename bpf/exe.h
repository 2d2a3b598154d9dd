/* SPDX-License-Identifier: (MIT OR GPL-2.0) */
/*
 * What the process sensor and the exec security hook read about an executable
 * file beyond its path: its identity (the superblock's device and the inode
 * number, so a bind mount or a second mount of the same file is the same
 * program), and flags: a memfd (an anonymous memory file: fileless execution),
 * a file in the upper layer of an overlay mount (written or copied up after the
 * overlay was mounted: in a container, after it started), a set-user-id or
 * set-group-id file. Exec rules test the flags through rule_cfg.access
 * (match_step: a rule with flags matches only an exec with one of them).
 */
#ifndef VIGIL_EXE_H
#define VIGIL_EXE_H

#include "policy.h"

enum vigil_exe_flags {
	EXE_MEMFD = 1 << 0,
	EXE_UPPER_LAYER = 1 << 1,
	EXE_SETUID = 1 << 2,
	EXE_SETGID = 1 << 3,
};

#define OVERLAYFS_SUPER_MAGIC 0x794c7630
#define VIGIL_S_ISUID 04000
#define VIGIL_S_ISGID 02000
#define VIGIL_S_IXGRP 00010

/* An executable's identity: key of exec_inodes. dev is the kernel's dev_t of
 * the superblock (major << 20 | minor). */
struct exe_id {
	__u64 ino;
	__u32 dev;
	__u32 pad;
};

/* Exact executables of process.exec rules by identity: (dev, inode) -> rules. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, struct exe_id);
	__type(value, __u64);
} exec_inodes SEC(".maps");

/*
 * dentry_anon says whether a dentry belongs to no directory: the file of a
 * memfd, an anonymous inode or a deleted O_TMPFILE file; the path walk ends at
 * once and gives "/" for it.
 */
static __always_inline int dentry_anon(struct vfsmount *mnt, struct dentry *d)
{
	return d && BPF_CORE_READ(d, d_parent) == d && BPF_CORE_READ(mnt, mnt_root) != d;
}

/*
 * exe_inspect fills the identity of a file and returns its flags. A memfd's
 * dentry is named "memfd:NAME" (memfd_create prefixes it): the flag comes
 * from an anonymous dentry with that name.
 */
static __always_inline __u32 exe_inspect(struct file *f, struct exe_id *id)
{
	__u32 flags = 0;
	struct vfsmount *mnt = BPF_CORE_READ(f, f_path.mnt);
	struct dentry *d = BPF_CORE_READ(f, f_path.dentry);
	struct inode *inode = BPF_CORE_READ(f, f_inode);
	id->ino = BPF_CORE_READ(inode, i_ino);
	id->dev = BPF_CORE_READ(inode, i_sb, s_dev);
	id->pad = 0;
	umode_t mode = BPF_CORE_READ(inode, i_mode);
	if (mode & VIGIL_S_ISUID)
		flags |= EXE_SETUID;
	if ((mode & (VIGIL_S_ISGID | VIGIL_S_IXGRP)) == (VIGIL_S_ISGID | VIGIL_S_IXGRP))
		flags |= EXE_SETGID;
	if (dentry_anon(mnt, d)) {
		char name[8] = {};
		bpf_probe_read_kernel(name, 6, BPF_CORE_READ(d, d_name.name));
		if (name[0] == 'm' && name[1] == 'e' && name[2] == 'm' && name[3] == 'f' && name[4] == 'd' &&
		    name[5] == ':')
			flags |= EXE_MEMFD;
	}
	/* overlayfs keeps the upper dentry right after the VFS inode in its own
	 * inode (struct ovl_inode, a module type): set when the file exists in the
	 * upper directory. */
	if (BPF_CORE_READ(d, d_sb, s_magic) == OVERLAYFS_SUPER_MAGIC) {
		struct inode *ov = BPF_CORE_READ(d, d_inode);
		void *upper = 0;
		if (ov)
			bpf_probe_read_kernel(&upper, sizeof(upper), (void *)ov + bpf_core_type_size(struct inode));
		if (upper)
			flags |= EXE_UPPER_LAYER;
	}
	return flags;
}

/* exec_identity_rules: the process.exec rules naming this file by identity. */
static __always_inline __u64 exec_identity_rules(struct exe_id *id)
{
	__u64 *m = bpf_map_lookup_elem(&exec_inodes, id);
	return m ? *m : 0;
}

#endif
