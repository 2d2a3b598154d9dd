//go:build ignore
// SPDX-License-Identifier: (MIT OR GPL-2.0)
/*
 * Network sensor: network.connect for IPv4 and IPv6 through cgroup/connect4 and
 * cgroup/connect6 programs attached to the cgroup2 root, so every process is
 * covered. These hooks can refuse the connect (EPERM): a real deny on kernels
 * without BPF LSM. network.accept and network.listen come from the syscall
 * tracepoints, which report (and kill) but cannot refuse.
 */
#include "alert.h"
#include "bpf_endian.h"

char __license[] SEC("license") = "Dual MIT/GPL";

#define AF_INET 2
#define AF_INET6 10

/*
 * net_match decides the network rules of one event: addr is 4 (IPv4) or 16
 * bytes in network order, port in host order. It fills the alert's network
 * fields and returns whether a rule matched (mc holds the decision).
 */
static __always_inline int net_match(struct selector_cfg *sel, struct alert_scratch *s, struct match_ctx *mc,
				     __u8 event, int v6, const void *addr, __u16 port, __u8 protocol)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task_btf();
	__u64 pol = current_policies(sel, task, KIND_NET);
	if (!pol)
		return 0;
	struct vigil_alert *a = &s->a;
	__u64 *m;
	__builtin_memset(a->daddr, 0, sizeof(a->daddr));
	if (v6) {
		struct net6_key k6 = {.prefixlen = 128};
		__builtin_memcpy(k6.addr, addr, 16);
		__builtin_memcpy(a->daddr, k6.addr, 16);
		m = bpf_map_lookup_elem(&net_cidr6, &k6);
	} else {
		struct net4_key k4 = {.prefixlen = 32};
		__builtin_memcpy(&k4.addr, addr, 4);
		__builtin_memcpy(a->daddr, &k4.addr, 4);
		m = bpf_map_lookup_elem(&net_cidr4, &k4);
	}
	__u64 cidr_rules = (m ? *m : 0) | sel->any_filter[KIND_NET];
	__u32 zero = 0;
	__u64 *any_port = bpf_map_lookup_elem(&net_any_port, &zero);
	__u64 *pm = bpf_map_lookup_elem(&net_ports, &port);
	__u64 port_rules = (pm ? *pm : 0) | (any_port ? *any_port : 0);
	mc->kind = KIND_NET;
	mc->event = event;
	mc->policies = pol;
	mc->candidates = cidr_rules & port_rules;
	if (!mc->candidates)
		return 0;
	bpf_loop(MAX_RULES, match_step, mc, 0);
	if (!mc->any)
		return 0;
	fill_alert_task(a, task);
	a->kind = KIND_NET;
	a->event = event;
	a->family = v6 ? AF_INET6 : AF_INET;
	a->dport = port;
	a->protocol = protocol;
	a->access = 0;
	a->path_len = 0;
	a->path[0] = 0;
	return 1;
}

static __always_inline int on_connect(struct bpf_sock_addr *ctx, int v6)
{
	struct selector_cfg *sel = get_selector();
	if (!sel || !sel->kind_policies[KIND_NET])
		return 1;
	struct alert_scratch *s = alert_scratch();
	if (!s)
		return 1;
	__u32 addr[4];
	if (v6) {
		addr[0] = ctx->user_ip6[0];
		addr[1] = ctx->user_ip6[1];
		addr[2] = ctx->user_ip6[2];
		addr[3] = ctx->user_ip6[3];
	} else {
		addr[0] = ctx->user_ip4;
	}
	struct match_ctx mc = {};
	if (!net_match(sel, s, &mc, EV_NET_CONNECT, v6, addr, bpf_ntohs((__u16)ctx->user_port), ctx->protocol))
		return 1;
	int allow = 1;
	if (mc.enforce && (mc.action == ACT_DENY || mc.action == ACT_KILL))
		allow = 0; /* a kill also refuses the connect: the process is going away */
	/* cgroup programs may not send signals before 6.18: the connect is refused
	 * here and user space delivers the SIGKILL of a kill rule. */
	send_alert_sig(&s->a, &mc, 0, !allow, 0);
	return allow;
}

/*
 * on_socket_fd handles accept (the peer of the new connection) and listen (the
 * local address), from the socket behind a descriptor. These syscall hooks can
 * report and kill; they cannot refuse.
 */
static __always_inline int on_socket_fd(long fd, __u8 event)
{
	if (fd < 0)
		return 0;
	struct selector_cfg *sel = get_selector();
	if (!sel || !sel->kind_policies[KIND_NET])
		return 0;
	struct task_struct *task = (struct task_struct *)bpf_get_current_task_btf();
	struct file *f = fd_file(task, fd);
	if (!f)
		return 0;
	struct socket *sock = BPF_CORE_READ(f, private_data);
	struct sock *sk = BPF_CORE_READ(sock, sk);
	if (!sk)
		return 0;
	__u16 family = BPF_CORE_READ(sk, __sk_common.skc_family);
	if (family != AF_INET && family != AF_INET6)
		return 0;
	int v6 = family == AF_INET6;
	__u8 addr[16] = {};
	__u16 port;
	if (event == EV_NET_ACCEPT) {
		port = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
		if (v6)
			BPF_CORE_READ_INTO(&addr, sk, __sk_common.skc_v6_daddr.in6_u.u6_addr8);
		else
			BPF_CORE_READ_INTO(&addr, sk, __sk_common.skc_daddr);
	} else {
		port = BPF_CORE_READ(sk, __sk_common.skc_num);
		if (v6)
			BPF_CORE_READ_INTO(&addr, sk, __sk_common.skc_v6_rcv_saddr.in6_u.u6_addr8);
		else
			BPF_CORE_READ_INTO(&addr, sk, __sk_common.skc_rcv_saddr);
	}
	struct alert_scratch *s = alert_scratch();
	if (!s)
		return 0;
	struct match_ctx mc = {};
	if (!net_match(sel, s, &mc, event, v6, addr, port, BPF_CORE_READ(sk, sk_protocol)))
		return 0;
	send_alert(&s->a, &mc, 0, 0);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_accept4")
int net_accept4(struct trace_event_raw_sys_exit *ctx)
{
	return on_socket_fd(ctx->ret, EV_NET_ACCEPT);
}

SEC("tracepoint/syscalls/sys_exit_accept")
int net_accept(struct trace_event_raw_sys_exit *ctx)
{
	return on_socket_fd(ctx->ret, EV_NET_ACCEPT);
}

SEC("tracepoint/syscalls/sys_enter_listen")
int net_listen(struct trace_event_raw_sys_enter *ctx)
{
	unsigned long a[1];
	bpf_probe_read_kernel(a, sizeof(a), &ctx->args[0]);
	return on_socket_fd((long)a[0], EV_NET_LISTEN);
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
