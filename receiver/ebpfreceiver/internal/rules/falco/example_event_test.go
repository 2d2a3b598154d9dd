package falco_test

import (
	"net/netip"

	"github.com/vigilsec/vigil/receiver/ebpfreceiver/internal/rules"
)

// event is the smallest Fields implementation: string fields only.
type event struct {
	kind rules.Kind
	str  map[rules.FieldID]string
}

func (e *event) Kind() rules.Kind { return e.kind }

func (e *event) Str(id rules.FieldID, idx int) (string, bool) {
	if idx != 0 {
		return "", false
	}
	s, ok := e.str[id]
	return s, ok
}

func (e *event) Num(rules.FieldID, int) (int64, bool)       { return 0, false }
func (e *event) Bool(rules.FieldID, int) (bool, bool)       { return false, false }
func (e *event) Addr(rules.FieldID, int) (netip.Addr, bool) { return netip.Addr{}, false }
