package redact

import (
	"strings"
	"testing"
)

// plant is a secret that no seed contains; a fuzz input that happens to contain it
// is skipped for the planted-secret check.
const plant = "Zq9PlantedVal"

// FuzzArgs checks the invariants of Args on arbitrary argument vectors: it never
// panics, returns as many arguments as it got, leaves argument 0 alone, never lets
// a secret planted after a known key through, and is idempotent.
func FuzzArgs(f *testing.F) {
	for _, c := range redactCases {
		f.Add(strings.Join(c.in, "\x00"), uint8(len(c.in)))
	}
	f.Add("sh\x00-c\x00mysql --password='a b", uint8(1))
	f.Add("curl\x00-u", uint8(2))
	f.Add("sh\x00-c\x00redis-cli -a 'x ssh' -a y", uint8(1))
	f.Add("sshpass\x00-p\x00x\x00Bearer ssh\x00-p\x0022", uint8(3))
	f.Add("x\x00https://u:p@ss@h@/?token=a&sig=", uint8(1))
	r, err := New(true, []string{`(?i)session=(\w+)`})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, joined string, where uint8) {
		args := strings.Split(joined, "\x00")
		if len(args) > 64 {
			args = args[:64]
		}
		check(t, r, args)

		if strings.Contains(joined, plant) {
			return
		}
		// Plant secrets after known keys, as arguments and inside a shell string.
		at := 1 + int(where)%len(args)
		forms := [][]string{
			{"--password=" + plant},
			{"--token", plant},
			{"TOKEN=" + plant},
			{"https://user:" + plant + "@host/"},
			{"-H", "Authorization: Bearer " + plant},
		}
		for _, form := range forms {
			planted := append(append(append([]string(nil), args[:at]...), form...), args[at:]...)
			assertMasked(t, r, planted)
		}
		shellForms := []string{
			" ; mysql -p" + plant,
			" ; export TOKEN=" + plant,
			" && tool --token=" + plant,
			" | sshpass -p " + plant + " ssh host",
			" ; curl -u user:" + plant + " url",
		}
		payload := args[len(args)-1]
		for _, sf := range shellForms {
			assertMasked(t, r, []string{"sh", "-c", payload + sf})
		}
	})
}

func check(t *testing.T, r *Redactor, args []string) []string {
	t.Helper()
	in := append([]string(nil), args...)
	out, changed := r.Args(args)
	if len(out) != len(args) {
		t.Fatalf("got %d arguments for %d: %q", len(out), len(args), out)
	}
	if len(args) > 0 && out[0] != args[0] {
		t.Fatalf("argument 0 changed: %q -> %q", args[0], out[0])
	}
	for i := range args {
		if args[i] != in[i] {
			t.Fatalf("input modified at %d", i)
		}
	}
	if changed == equal(args, out) {
		t.Fatalf("changed=%v for %q -> %q", changed, args, out)
	}
	again, _ := r.Args(out)
	if !equal(out, again) {
		t.Fatalf("not idempotent:\n in  %q\n out %q\n 2nd %q", args, out, again)
	}
	return out
}

func assertMasked(t *testing.T, r *Redactor, args []string) {
	t.Helper()
	for _, a := range check(t, r, args) {
		if strings.Contains(a, plant) {
			t.Fatalf("planted secret survived: %q", args)
		}
	}
}
