//go:build linux

package containertest

// IntendedMark is the word a test puts in the command line of an action that raises a
// detection of the default pack on purpose (a shell with a terminal exec'd into a
// container, debugfs in a privileged container, ...). The processes of a container
// descend from its shim, not from the test, so the pack's exclusion of what the Go
// tool runs does not cover them; .ci/detection-watch.sh counts a detection whose
// process or parent command line holds this word (alone, or followed by -SUFFIX) as
// intended instead of as a false positive. Mark only the action that must fire, never
// a container's entrypoint or an action that must stay silent: a detection there is a
// real false positive.
const IntendedMark = "vigil-test-intended"

// Intended returns the mark followed by tag (IntendedMark-tag): one word to put in a
// deliberate action's command line that also keeps it unique.
func Intended(tag string) string { return IntendedMark + "-" + tag }
