//go:build linux

package sensor

import (
	"strings"

	"github.com/vigilsec/vigil/receiver/ebpfreceiver/internal/policy"
)

// fileRule compiles a file.* rule's paths and access modes and returns the
// rule's access bits (1 read, 2 write; 0 either).
func (c *compiler) fileRule(r *policy.Rule, act policy.Action, rs ruleSlot, slot int) uint8 {
	var access uint8
	for _, a := range r.Access {
		switch a {
		case policy.AccessRead:
			access |= 1
		case policy.AccessWrite:
			access |= 2
		}
	}
	if len(r.Paths) == 0 {
		c.img.selector.AnyFilter[KindFile] |= rs.bit
		c.topFilter = false
	}
	for _, path := range r.Paths {
		if top, ok := topComponent(path); ok {
			c.img.topDirs[top] = 1
		} else {
			c.topFilter = false
		}
	}
	pathEvent := securityHookOnly(r.Event)
	if pathEvent || act == policy.ActionDeny {
		// Path events and denies are only possible with BPF LSM
		// (CheckImplemented, CheckCapabilities): the LSM hooks own them.
		c.onLSM(rs)
	}
	if pathEvent {
		c.plan.PathEvents[r.Event] = true
		c.plan.pathRules |= rs.bit
	}
	if r.Event == policy.EventFileWrite {
		c.plan.writeRules |= rs.bit
	}
	c.plan.fileRules |= rs.bit
	ur := userFileRule{slot: rs.slot, policy: slot, access: access}
	for _, path := range r.Paths {
		e := filePathEntry(path, rs.bit)
		c.fileEntries = append(c.fileEntries, e)
		ur.paths = append(ur.paths, e)
	}
	c.rules.userFile = append(c.rules.userFile, ur)
	return access
}

// filePathEntry is a rule path's filter entry: a path ending in / matches
// everything below it, any other path only itself.
func filePathEntry(path string, mask uint64) pathEntry {
	return pathEntry{path, !strings.HasSuffix(path, "/"), mask}
}

// topComponent returns the kernel's top_dirs key for a rule path: its first
// component, truncated to 15 bytes (the kernel truncates the same way).
func topComponent(path string) (processTopKey, bool) {
	var k processTopKey
	rest := strings.TrimPrefix(path, "/")
	first, _, _ := strings.Cut(rest, "/")
	if first == "" {
		return k, false // "/" matches everything: no pre-filter
	}
	for i := 0; i < len(first) && i < len(k.Name)-1; i++ {
		k.Name[i] = int8(first[i])
	}
	return k, true
}
