/* SPDX-License-Identifier: (MIT OR GPL-2.0) */
/*
 * The syscall dispatcher. Every BPF program attached to the raw sys_enter or
 * sys_exit tracepoint runs on every syscall of every task, and its invocation
 * costs more than the few compares that tell an uninteresting syscall apart
 * (about 40 ns per syscall, measured on x86_64 with the speculation
 * mitigations on): a second program on the same tracepoint doubles what every
 * syscall pays.
 *
 * So each tracepoint has at most one of Vigil's programs. On sys_exit it is
 * the file sensor's file_sys_exit, which decides opens and writes (the hottest
 * syscalls) inline; on sys_enter the syscall sensor's sys_enter_all, which only
 * privilege.change needs (everything else is decided on exit). The other
 * sensors' handlers on sys_exit are loaded but not attached: user space places
 * them in the dispatcher's program array at the slots of the syscalls they
 * decide, and the dispatcher tail-calls the slot of any syscall it does not
 * decide itself. A slot is the syscall number for x86_64 (below DISPATCH_NR)
 * and DISPATCH_NR + the number for ia32 (compat.h: the two tables reuse
 * numbers), so each (table, number) has one handler; a handler may pass a
 * syscall it shares on to a next one the same way (ia32 socketcall).
 *
 * The array is guarded by a flag (its _on map): with no handler placed, a
 * syscall costs one array load and no ia32 test.
 */
#ifndef VIGIL_DISPATCH_H
#define VIGIL_DISPATCH_H

#include "compat.h"

#define DISPATCH_NR 512
#define DISPATCH_SLOTS (2 * DISPATCH_NR)

#define DISPATCH_MAPS(name)                                  \
	struct {                                             \
		__uint(type, BPF_MAP_TYPE_PROG_ARRAY);       \
		__uint(max_entries, DISPATCH_SLOTS);         \
		__type(key, __u32);                          \
		__type(value, __u32);                        \
	} name SEC(".maps");                                 \
	struct {                                             \
		__uint(type, BPF_MAP_TYPE_ARRAY);            \
		__uint(max_entries, 1);                      \
		__type(key, __u32);                          \
		__type(value, __u32);                        \
	} name##_on SEC(".maps")

/*
 * dispatch: tail-calls the handler placed at the slot of syscall nr, if any.
 * compat < 0: not known yet (in_ia32_syscall is asked only when a handler is
 * placed). Returns only when there is none.
 */
#define dispatch(ctx, name, nr, compat)                                          \
	({                                                                       \
		__u32 zero_ = 0;                                                 \
		__u32 *on_ = bpf_map_lookup_elem(&name##_on, &zero_);            \
		long nr_ = (nr);                                                 \
		if (on_ && *on_ && nr_ >= 0 && nr_ < DISPATCH_NR) {              \
			int c_ = (compat);                                       \
			if (c_ < 0)                                              \
				c_ = in_ia32_syscall();                          \
			bpf_tail_call(ctx, &name, (__u32)nr_ + (c_ ? DISPATCH_NR : 0)); \
		}                                                                \
	})

#endif
