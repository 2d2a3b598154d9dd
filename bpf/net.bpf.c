//go:build ignore
// SPDX-License-Identifier: (MIT OR GPL-2.0)
/*
 * Network sensor: network.connect for IPv4 and IPv6 through cgroup/connect4 and
 * cgroup/connect6 programs attached to the cgroup2 root, so every process is
 * covered. These hooks can refuse the connect (EPERM): a real deny on kernels
 * without BPF LSM.
 */
#include "alert.h"
#include "bpf_endian.h"

char __license[] SEC("license") = "Dual MIT/GPL";

#define AF_INET 2
#define AF_INET6 10

static __always_inline int on_connect(struct bpf_sock_addr *ctx, int v6)
{
	struct selector_cfg *sel = get_selector();
	if (!sel || !sel->kind_policies[KIND_NET])
		return 1;
	struct task_struct *task = (struct task_struct *)bpf_get_current_task_btf();
	__u64 pt = bpf_get_current_pid_tgid();
	__u32 tgid = pt >> 32;
	__u32 uid = (__u32)bpf_get_current_uid_gid();
	__u64 cgid = bpf_get_current_cgroup_id();
	__u64 pol = policies_for(sel, task, tgid, uid, cgid) & sel->kind_policies[KIND_NET];
	if (!pol)
		return 1;

	__u16 port = bpf_ntohs((__u16)ctx->user_port);
	__u64 *m;
	struct alert_scratch *s = alert_scratch();
	if (!s)
		return 1;
	struct vigil_alert *a = &s->a;
	__builtin_memset(a->daddr, 0, sizeof(a->daddr));
	if (v6) {
		struct net6_key k6 = {.prefixlen = 128};
		__u32 w0 = ctx->user_ip6[0], w1 = ctx->user_ip6[1], w2 = ctx->user_ip6[2], w3 = ctx->user_ip6[3];
		__builtin_memcpy(&k6.addr[0], &w0, 4);
		__builtin_memcpy(&k6.addr[4], &w1, 4);
		__builtin_memcpy(&k6.addr[8], &w2, 4);
		__builtin_memcpy(&k6.addr[12], &w3, 4);
		__builtin_memcpy(a->daddr, k6.addr, 16);
		m = bpf_map_lookup_elem(&net_cidr6, &k6);
	} else {
		struct net4_key k4 = {.prefixlen = 32, .addr = ctx->user_ip4};
		__builtin_memcpy(a->daddr, &k4.addr, 4);
		m = bpf_map_lookup_elem(&net_cidr4, &k4);
	}
	__u64 cidr_rules = (m ? *m : 0) | sel->any_filter[KIND_NET];
	__u32 zero = 0;
	__u64 *any_port = bpf_map_lookup_elem(&net_any_port, &zero);
	__u64 *pm = bpf_map_lookup_elem(&net_ports, &port);
	__u64 port_rules = (pm ? *pm : 0) | (any_port ? *any_port : 0);
	struct match_ctx mc = {.kind = KIND_NET, .policies = pol, .candidates = cidr_rules & port_rules};
	if (!mc.candidates)
		return 1;
	bpf_loop(MAX_RULES, match_step, &mc, 0);
	if (!mc.any)
		return 1;
	fill_alert_task(a, task);
	a->kind = KIND_NET;
	a->event = EV_NET_CONNECT;
	a->family = v6 ? AF_INET6 : AF_INET;
	a->dport = port;
	a->protocol = ctx->protocol;
	a->access = 0;
	a->path_len = 0;
	a->path[0] = 0;
	int allow = 1;
	if (mc.enforce && (mc.action == ACT_DENY || mc.action == ACT_KILL))
		allow = 0; /* a kill also refuses the connect: the process is going away */
	/* cgroup programs may not send signals before 6.18: the connect is refused
	 * here and user space delivers the SIGKILL of a kill rule. */
	send_alert_sig(a, &mc, 0, !allow, 0);
	return allow;
}

SEC("cgroup/connect4")
int net_connect4(struct bpf_sock_addr *ctx)
{
	return on_connect(ctx, 0);
}

SEC("cgroup/connect6")
int net_connect6(struct bpf_sock_addr *ctx)
{
	return on_connect(ctx, 1);
}
