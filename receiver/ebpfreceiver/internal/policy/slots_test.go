package policy

import (
	"fmt"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestSlotsAssignRelease(t *testing.T) {
	s := NewSlots()
	a, err := s.Assign("a")
	require.NoError(t, err)
	b, err := s.Assign("b")
	require.NoError(t, err)
	assert.Equal(t, 0, a)
	assert.Equal(t, 1, b)
	again, err := s.Assign("a")
	require.NoError(t, err)
	assert.Equal(t, a, again, "assigning twice keeps the slot")

	assert.True(t, s.Release("a"))
	assert.False(t, s.Release("a"))
	_, ok := s.Slot("a")
	assert.False(t, ok)

	// The freed slot 0 is reused only after every never-used slot.
	c, err := s.Assign("c")
	require.NoError(t, err)
	assert.Equal(t, 2, c)
	got, ok := s.Slot("b")
	assert.True(t, ok)
	assert.Equal(t, 1, got)
}

func TestSlotsFull(t *testing.T) {
	s := NewSlots()
	for i := range MaxPolicies {
		slot, err := s.Assign(fmt.Sprint("p", i))
		require.NoError(t, err)
		assert.Equal(t, i, slot)
	}
	_, err := s.Assign("one-too-many")
	require.EqualError(t, err, `assigning a slot to policy "one-too-many": all 64 slots are in use`)
	require.True(t, s.Release("p10"))
	slot, err := s.Assign("one-too-many")
	require.NoError(t, err)
	assert.Equal(t, 10, slot, "a slot is reused once released")
}

func TestSlotsSyncKeepsOthers(t *testing.T) {
	s := NewSlots()
	m, err := s.Sync([]string{"a", "b", "c"})
	require.NoError(t, err)
	assert.Equal(t, map[string]int{"a": 0, "b": 1, "c": 2}, m)

	// b removed, d added: a and c keep their slots, d does not take b's.
	m, err = s.Sync([]string{"c", "a", "d"})
	require.NoError(t, err)
	assert.Equal(t, map[string]int{"a": 0, "c": 2, "d": 3}, m)
	_, ok := s.Slot("b")
	assert.False(t, ok)

	names := make([]string, MaxPolicies+1)
	for i := range names {
		names[i] = fmt.Sprint("n", i)
	}
	_, err = s.Sync(names)
	require.EqualError(t, err, "assigning policy slots: 65 policies, at most 64 fit")
	got, ok := s.Slot("d")
	assert.True(t, ok, "unchanged on error")
	assert.Equal(t, 3, got)
}

func TestSlotsSyncFillsToCapacity(t *testing.T) {
	s := NewSlots()
	names := make([]string, MaxPolicies)
	for i := range names {
		names[i] = fmt.Sprint("old", i)
	}
	_, err := s.Sync(names)
	require.NoError(t, err)
	// Replace every policy at once: the released slots are reused.
	for i := range names {
		names[i] = fmt.Sprint("new", i)
	}
	m, err := s.Sync(names)
	require.NoError(t, err)
	seen := map[int]bool{}
	for _, slot := range m {
		assert.False(t, seen[slot])
		seen[slot] = true
	}
	assert.Len(t, seen, MaxPolicies)
}

func TestSlotsConcurrent(t *testing.T) {
	s := NewSlots()
	var wg sync.WaitGroup
	for i := range 32 {
		wg.Go(func() {
			_, err := s.Assign(fmt.Sprint("p", i))
			assert.NoError(t, err)
		})
	}
	wg.Wait()
	seen := map[int]bool{}
	for i := range 32 {
		slot, ok := s.Slot(fmt.Sprint("p", i))
		require.True(t, ok)
		assert.False(t, seen[slot])
		seen[slot] = true
	}
}
