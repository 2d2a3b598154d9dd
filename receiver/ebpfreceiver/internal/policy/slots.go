package policy

import (
	"fmt"
	"sync"
)

// Slots assigns each loaded policy a stable index 0..MaxPolicies-1: its bit
// in the kernel's 64-bit policy mask and its row in per-policy maps. A name
// keeps its slot until it is released, so reloading one policy leaves every
// other policy's slot alone. Freed slots are reused oldest-freed first, so a
// slot just released (whose bit may still be set in events in flight) is
// handed out again as late as possible. Safe for concurrent use.
type Slots struct {
	mu     sync.Mutex
	byName map[string]int
	free   []int // free slots, oldest-freed first
}

// NewSlots returns an empty assignment with all MaxPolicies slots free.
func NewSlots() *Slots {
	s := &Slots{byName: map[string]int{}, free: make([]int, MaxPolicies)}
	for i := range s.free {
		s.free[i] = i
	}
	return s
}

// Assign returns name's slot, taking a free one if name has none.
func (s *Slots) Assign(name string) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.assign(name)
}

func (s *Slots) assign(name string) (int, error) {
	if i, ok := s.byName[name]; ok {
		return i, nil
	}
	if len(s.free) == 0 {
		return 0, fmt.Errorf("assigning a slot to policy %q: all %d slots are in use", name, MaxPolicies)
	}
	i := s.free[0]
	s.free = s.free[1:]
	s.byName[name] = i
	return i, nil
}

// Release frees name's slot. It reports whether name had one.
func (s *Slots) Release(name string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.release(name)
}

func (s *Slots) release(name string) bool {
	i, ok := s.byName[name]
	if !ok {
		return false
	}
	delete(s.byName, name)
	s.free = append(s.free, i)
	return true
}

// Slot returns name's slot, if it has one.
func (s *Slots) Slot(name string) (int, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	i, ok := s.byName[name]
	return i, ok
}

// Sync makes the assignment match names: names no longer present are
// released first, then new names get slots; names kept keep theirs. It
// returns the slot of every name. On error (more than MaxPolicies names)
// the assignment is left unchanged.
func (s *Slots) Sync(names []string) (map[string]int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	want := make(map[string]bool, len(names))
	for _, n := range names {
		want[n] = true
	}
	if len(want) > MaxPolicies {
		return nil, fmt.Errorf("assigning policy slots: %d policies, at most %d fit", len(want), MaxPolicies)
	}
	// Release in slot order so that the free list stays deterministic.
	for i := range MaxPolicies {
		for n, slot := range s.byName {
			if slot == i && !want[n] {
				s.release(n)
			}
		}
	}
	out := make(map[string]int, len(names))
	for _, n := range names {
		i, err := s.assign(n)
		if err != nil { // unreachable: counted above
			return nil, err
		}
		out[n] = i
	}
	return out, nil
}
