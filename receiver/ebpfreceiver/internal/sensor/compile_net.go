//go:build linux

package sensor

import (
	"net/netip"

	"github.com/vigilsec/vigil/receiver/ebpfreceiver/internal/policy"
)

// netRule compiles a network.* rule's CIDRs and ports.
func (c *compiler) netRule(r *policy.Rule, rs ruleSlot) {
	c.plan.NetEvents[r.Event] = true
	if len(r.CIDRs) == 0 {
		c.img.selector.AnyFilter[KindNet] |= rs.bit
	}
	for _, pfx := range r.CIDRs {
		if pfx.Addr().Is4() {
			c.net4Entries = append(c.net4Entries, cidrEntry{pfx, rs.bit})
		} else {
			c.net6Entries = append(c.net6Entries, cidrEntry{pfx, rs.bit})
		}
	}
	if len(r.Ports) == 0 {
		c.img.anyPort |= rs.bit
	}
	for _, port := range r.Ports {
		c.img.ports[port] |= rs.bit
	}
}

type cidrEntry struct {
	pfx  netip.Prefix
	mask uint64
}

// closeCIDRs gives each prefix the masks of every prefix containing it.
func closeCIDRs(entries []cidrEntry) []cidrEntry {
	out := make([]cidrEntry, 0, len(entries))
	for _, e := range entries {
		m := uint64(0)
		for _, o := range entries {
			if o.pfx.Bits() <= e.pfx.Bits() && o.pfx.Contains(e.pfx.Addr()) {
				m |= o.mask
			}
		}
		out = append(out, cidrEntry{e.pfx.Masked(), m})
	}
	return out
}

// net4Key is an IPv4 prefix's LPM key: the kernel compares the address in
// network byte order, as bytes.
func net4Key(pfx netip.Prefix) processNet4Key {
	pfx = pfx.Masked()
	return processNet4Key{Prefixlen: uint32(pfx.Bits()), Addr: nativeU32(pfx.Addr().As4())}
}

func net6Key(pfx netip.Prefix) processNet6Key {
	pfx = pfx.Masked()
	return processNet6Key{Prefixlen: uint32(pfx.Bits()), Addr: pfx.Addr().As16()}
}
