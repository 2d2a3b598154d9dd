//go:build ignore
// SPDX-License-Identifier: (MIT OR GPL-2.0)
/*
 * fentry sensor: the in-kernel hooks of lsm.bpf.c, on entry to the kernel's
 * security functions, for kernels where fentry works but BPF LSM does not (built
 * without CONFIG_BPF_LSM, or "bpf" missing from the lsm= list, as on many
 * distribution kernels). It reports what the LSM hooks report (file.open,
 * file.write, privilege.change, kernel.module_load, bpf.load, process.ptrace)
 * without a syscall tracepoint, but cannot refuse: deny needs BPF LSM. fentry
 * programs get the functions' arguments as BTF pointers, like LSM programs.
 */
#include "hooks.h"

char __license[] SEC("license") = "Dual MIT/GPL";

SEC("fentry/security_file_open")
int BPF_PROG(fentry_file_open, struct file *file)
{
	hook_file_open(file, HOOK_FENTRY);
	return 0;
}

SEC("fentry/security_file_permission")
int BPF_PROG(fentry_file_permission, struct file *file, int mask)
{
	hook_file_permission(file, mask, HOOK_FENTRY);
	return 0;
}

SEC("fentry/security_task_fix_setuid")
int BPF_PROG(fentry_task_fix_setuid, struct cred *new, const struct cred *old, int flags)
{
	hook_setuid(new, old, flags, HOOK_FENTRY);
	return 0;
}

SEC("fentry/security_task_fix_setgid")
int BPF_PROG(fentry_task_fix_setgid, struct cred *new, const struct cred *old, int flags)
{
	hook_setgid(new, old, flags, HOOK_FENTRY);
	return 0;
}

SEC("fentry/security_capset")
int BPF_PROG(fentry_capset, struct cred *new, const struct cred *old, const kernel_cap_t *effective,
	     const kernel_cap_t *inheritable, const kernel_cap_t *permitted)
{
	hook_capset(old, effective, inheritable, permitted, HOOK_FENTRY);
	return 0;
}

SEC("fentry/security_ptrace_access_check")
int BPF_PROG(fentry_ptrace_access_check, struct task_struct *child, unsigned int mode)
{
	hook_ptrace(child, mode, HOOK_FENTRY);
	return 0;
}

SEC("fentry/security_kernel_read_file")
int BPF_PROG(fentry_kernel_read_file, struct file *file, int id, bool contents)
{
	hook_kernel_read_file(file, id, HOOK_FENTRY);
	return 0;
}

SEC("fentry/security_kernel_load_data")
int BPF_PROG(fentry_kernel_load_data, int id, bool contents)
{
	hook_kernel_load_data(id, HOOK_FENTRY);
	return 0;
}

SEC("fentry/security_bpf")
int BPF_PROG(fentry_bpf, int cmd, union bpf_attr *attr, unsigned int size)
{
	hook_bpf(cmd, attr, HOOK_FENTRY);
	return 0;
}
