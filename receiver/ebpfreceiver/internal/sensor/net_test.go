//go:build linux

package sensor

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// denyLoopback2 is an enforced deny of every connect to 127.0.0.2 by the test
// binary itself.
func denyLoopback2(t *testing.T) string {
	self, err := os.Executable()
	require.NoError(t, err)
	return fmt.Sprintf(`name: no-127-0-0-2
mode: enforce
selector:
  binaries: [%s]
rules:
  - event: network.connect
    cidrs: [127.0.0.2/32]
    action: deny
`, self)
}

// listenOn accepts (and closes) connections on addr until the test ends.
func listenOn(t *testing.T, addr string) int {
	l, err := net.Listen("tcp4", addr)
	require.NoError(t, err)
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	return l.Addr().(*net.TCPAddr).Port
}

// mapped returns ::ffff:a.b.c.d.
func mapped(v4 [4]byte) [16]byte {
	return netip.AddrFrom4(v4).As16()
}

// connect6 connects an AF_INET6 stream socket to addr and closes it.
func connect6(addr [16]byte, port int) error {
	fd, err := unix.Socket(unix.AF_INET6, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	return unix.Connect(fd, &unix.SockaddrInet6{Addr: addr, Port: port})
}

func (r *policyRig) ownAlerts(t *testing.T) []Alert {
	return r.alerts(t, 500*time.Millisecond, func(a *Alert) bool { return a.TGID == uint32(os.Getpid()) })
}

// An IPv4-mapped IPv6 address on an AF_INET6 socket is IPv4: a deny of
// 127.0.0.2/32 refuses connect to ::ffff:127.0.0.2 (reported in the IPv4 form),
// and allows ::ffff:127.0.0.3 (not reported).
func connectDenyMappedIPv6(t *testing.T, r *policyRig, _ string) {
	p2 := listenOn(t, "127.0.0.2:0")
	p3 := listenOn(t, "127.0.0.3:0")
	r.apply(t, denyLoopback2(t))

	err := connect6(mapped([4]byte{127, 0, 0, 2}), p2)
	assert.ErrorIs(t, err, syscall.EPERM, "::ffff:127.0.0.2 is 127.0.0.2")
	assert.NoError(t, connect6(mapped([4]byte{127, 0, 0, 3}), p3), "::ffff:127.0.0.3 is not covered")

	got := r.ownAlerts(t)
	require.Len(t, got, 1, "the refused connect only")
	assert.True(t, got[0].Applied)
	assert.Equal(t, actDeny, got[0].Action)
	assert.Equal(t, fmt.Sprintf("127.0.0.2:%d", p2), got[0].Peer.String(), "reported as IPv4")
	assert.True(t, got[0].Peer.Addr().Is4())
}

// sendto without connect: datagrams to 127.0.0.2 on an unconnected UDP socket,
// and to ::ffff:127.0.0.2 on an unconnected UDP6 socket, are refused with
// EPERM and reported; those to 127.0.0.3 are sent and not reported.
func sendtoDenyUnconnectedUDP(t *testing.T, r *policyRig, _ string) {
	// A receiver on 127.0.0.3, to prove the allowed datagrams arrive.
	rc, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 3)})
	require.NoError(t, err)
	defer rc.Close()
	port := rc.LocalAddr().(*net.UDPAddr).Port
	r.apply(t, denyLoopback2(t))

	fd4, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	require.NoError(t, err)
	defer unix.Close(fd4)
	fd6, err := unix.Socket(unix.AF_INET6, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	require.NoError(t, err)
	defer unix.Close(fd6)

	msg := []byte("x")
	assert.ErrorIs(t, unix.Sendto(fd4, msg, 0, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 2}, Port: port}), syscall.EPERM, "udp4 sendto 127.0.0.2")
	assert.ErrorIs(t, unix.Sendto(fd6, msg, 0, &unix.SockaddrInet6{Addr: mapped([4]byte{127, 0, 0, 2}), Port: port}), syscall.EPERM, "udp6 sendto ::ffff:127.0.0.2")
	require.NoError(t, unix.Sendto(fd4, msg, 0, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 3}, Port: port}), "udp4 sendto 127.0.0.3")
	require.NoError(t, unix.Sendto(fd6, msg, 0, &unix.SockaddrInet6{Addr: mapped([4]byte{127, 0, 0, 3}), Port: port}), "udp6 sendto ::ffff:127.0.0.3")
	require.NoError(t, rc.SetReadDeadline(time.Now().Add(2*time.Second)))
	buf := make([]byte, 16)
	for i := range 2 {
		_, _, err := rc.ReadFromUDP(buf)
		require.NoError(t, err, "allowed datagram %d arrives", i)
	}

	got := r.ownAlerts(t)
	require.Len(t, got, 2, "the two refused datagrams only")
	for _, a := range got {
		assert.True(t, a.Applied)
		assert.Equal(t, actDeny, a.Action)
		assert.Equal(t, uint8(processVigilEventEV_NET_CONNECT), a.Event)
		assert.Equal(t, uint8(unix.IPPROTO_UDP), a.Protocol)
		assert.Equal(t, fmt.Sprintf("127.0.0.2:%d", port), a.Peer.String())
	}
}
