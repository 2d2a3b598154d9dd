package testkit

import (
	"strings"
	"sync"
	"testing"
)

// Writers and readers at once (run with -race): every write arrives whole.
func TestSyncBuffer(t *testing.T) {
	var b SyncBuffer
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 100 {
				_, _ = b.Write([]byte("ab"))
				_ = b.String()
			}
		}()
	}
	wg.Wait()
	if s := b.String(); len(s) != 800 || strings.Count(s, "ab") != 400 {
		t.Fatalf("%d bytes, %d whole writes; want 800 and 400", len(s), strings.Count(s, "ab"))
	}
}
