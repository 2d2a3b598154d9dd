//go:build ignore
// SPDX-License-Identifier: (MIT OR GPL-2.0)
/*
 * Network sensor: network.connect for IPv4 and IPv6 through cgroup/connect4 and
 * cgroup/connect6 programs attached to the cgroup2 root, so every process is
 * covered. These hooks can refuse the connect (EPERM): a real deny on kernels
 * without BPF LSM; the cgroup sendmsg programs do the same for unconnected
 * datagrams. network.accept and network.listen come from a handler the raw
 * sys_exit dispatcher tail-calls (dispatch.h), which reports (and kills) but
 * cannot refuse.
 */
#include "alert.h"
#include "bpf_endian.h"

char __license[] SEC("license") = "Dual MIT/GPL";

#define AF_INET 2
#define AF_INET6 10

/*
 * net_match decides the network rules of one event: addr is 4 (IPv4) or 16
 * bytes in network order, port in host order. It fills the alert's network
 * fields and returns whether a rule matched (mc holds the decision). An
 * IPv4-mapped IPv6 address (::ffff:a.b.c.d, an IPv4 peer of an AF_INET6 socket)
 * is IPv4 traffic: it meets the IPv4 rules as a.b.c.d as well as the IPv6 rules
 * as written, and is reported in its IPv4 form.
 */
static __always_inline int net_match(struct selector_cfg *sel, struct alert_scratch *s, struct match_ctx *mc,
				     __u8 event, int v6, const void *addr, __u16 port, __u8 protocol, __u32 xflags)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task_btf();
	__u64 pol = current_policies(sel, task, KIND_NET);
	if (!pol)
		return 0;
	struct vigil_alert *a = &s->a;
	__u64 cidr_rules = 0, *m;
	int v4 = !v6;
	struct net4_key k4 = {.prefixlen = 32};
	__builtin_memset(a->daddr, 0, sizeof(a->daddr));
	if (v6) {
		struct net6_key k6 = {.prefixlen = 128};
		__builtin_memcpy(k6.addr, addr, 16);
		m = bpf_map_lookup_elem(&net_cidr6, &k6);
		cidr_rules = m ? *m : 0;
		__u32 w[4];
		__builtin_memcpy(w, k6.addr, 16);
		if (w[0] == 0 && w[1] == 0 && w[2] == bpf_htonl(0xffff)) {
			k4.addr = w[3];
			v4 = 1;
		} else {
			__builtin_memcpy(a->daddr, k6.addr, 16);
		}
	} else {
		__builtin_memcpy(&k4.addr, addr, 4);
	}
	if (v4) {
		__builtin_memcpy(a->daddr, &k4.addr, 4);
		m = bpf_map_lookup_elem(&net_cidr4, &k4);
		cidr_rules |= m ? *m : 0;
	}
	cidr_rules |= sel->any_filter[KIND_NET];
	__u32 zero = 0;
	__u64 *any_port = bpf_map_lookup_elem(&net_any_port, &zero);
	__u64 *pm = bpf_map_lookup_elem(&net_ports, &port);
	__u64 port_rules = (pm ? *pm : 0) | (any_port ? *any_port : 0);
	mc->kind = KIND_NET;
	mc->event = event;
	mc->policies = pol;
	mc->candidates = cidr_rules & port_rules;
	task_keys_filter(sel, task, mc);
	if (!mc->candidates)
		return 0;
	match_rules(mc);
	if (!mc->any)
		return 0;
	fill_alert_task(a, task);
	a->hdr.flags |= xflags;
	a->kind = KIND_NET;
	a->event = event;
	a->family = v4 ? AF_INET : AF_INET6;
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
	if (!net_match(sel, s, &mc, EV_NET_CONNECT, v6, addr, bpf_ntohs((__u16)ctx->user_port), ctx->protocol, 0))
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
 * on_socket_file handles accept (the peer of the new connection) and listen (the
 * local address) of a socket's file; on_socket_fd of the socket behind a
 * descriptor. These hooks can report and kill; they cannot refuse.
 */
static __always_inline int on_socket_file(struct file *f, __u8 event, __u32 xflags)
{
	struct selector_cfg *sel = get_selector();
	if (!sel || !sel->kind_policies[KIND_NET])
		return 0;
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
	if (!net_match(sel, s, &mc, event, v6, addr, port, BPF_CORE_READ(sk, sk_protocol), xflags))
		return 0;
	send_alert(&s->a, &mc, 0, 0);
	return 0;
}

static __always_inline int on_socket_fd(long fd, __u8 event, __u32 xflags)
{
	if (fd < 0)
		return 0;
	struct task_struct *task = (struct task_struct *)bpf_get_current_task_btf();
	return on_socket_file(fd_file(task, fd), event, xflags);
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

/*
 * Unconnected datagrams (sendto / sendmsg with a destination on a UDP socket
 * that is not connected) never pass connect: the cgroup sendmsg hooks apply the
 * network.connect rules to each such datagram's destination, and a deny makes
 * the send fail with EPERM. An IPv4-mapped destination on a UDP6 socket reaches
 * the IPv4 hook; sendmsg6 also matches it as IPv4 (net_match).
 */
SEC("cgroup/sendmsg4")
int net_sendmsg4(struct bpf_sock_addr *ctx)
{
	return on_connect(ctx, 0);
}

SEC("cgroup/sendmsg6")
int net_sendmsg6(struct bpf_sock_addr *ctx)
{
	return on_connect(ctx, 1);
}

/* x86_64 syscall numbers of listen and accept. */
#define NR_accept 43
#define NR_listen 50
#define NR_accept4 288

/*
 * listen and accept on syscall exit, x86_64 and ia32 (compat.h): for ia32,
 * listen (363) and accept4 (364), and socketcall (102), which multiplexes every
 * socket call and passes its arguments as an array of 32-bit words in memory,
 * reported with FLAG_COMPAT. Not attached: the sys_exit dispatcher (dispatch.h)
 * tail-calls it at the slots of these numbers (socketcall through the syscall
 * sensor's handler, which decides socket()).
 */
SEC("tp_btf/sys_exit")
int BPF_PROG(net_sys_exit, struct pt_regs *regs, long ret)
{
	long id = regs->orig_ax;
	if (!in_ia32_syscall()) {
		if (id == NR_listen)
			return on_socket_fd((int)regs->di, EV_NET_LISTEN, 0);
		if (id == NR_accept || id == NR_accept4)
			return on_socket_fd(ret, EV_NET_ACCEPT, 0);
		return 0;
	}
	__u32 call = 0;
	switch (id) {
	case NR32_listen:
		call = SYS_LISTEN;
		break;
	case NR32_accept4:
		call = SYS_ACCEPT4;
		break;
	case NR32_socketcall:
		call = (__u32)regs->bx; /* the arguments are still in the saved registers */
		break;
	default:
		return 0;
	}
	if (call == SYS_ACCEPT || call == SYS_ACCEPT4)
		return on_socket_fd(ret, EV_NET_ACCEPT, FLAG_COMPAT);
	if (call != SYS_LISTEN)
		return 0;
	long fd = (int)regs->bx;
	if (id == NR32_socketcall) {
		__u32 args[1];
		if (bpf_probe_read_user(args, sizeof(args), (void *)(unsigned long)(__u32)regs->cx))
			return 0;
		fd = (int)args[0];
	}
	return on_socket_fd(fd, EV_NET_LISTEN, FLAG_COMPAT);
}

/*
 * io_uring: IORING_OP_ACCEPT completes with the new descriptor (each completion
 * of a multishot accept too), IORING_OP_LISTEN (6.11+) with 0 on the request's
 * socket; both are decided like the syscalls', flagged FLAG_IO_URING.
 * IORING_OP_CONNECT passes the cgroup connect hooks like connect(2). An accept
 * into a fixed-file slot installs no descriptor and is not seen here.
 */
SEC("tracepoint/io_uring/io_uring_complete")
int net_io_uring_complete(struct trace_event_raw_io_uring_complete *ctx)
{
	int res = ctx->res;
	if (res < 0)
		return 0;
	struct io_kiocb *req = ctx->req;
	__u8 op = BPF_CORE_READ(req, opcode);
	if (op == IORING_OP_ACCEPT)
		return on_socket_fd(res, EV_NET_ACCEPT, FLAG_IO_URING);
	if (op == IORING_OP_LISTEN)
		return on_socket_file(BPF_CORE_READ(req, file), EV_NET_LISTEN, FLAG_IO_URING);
	return 0;
}
