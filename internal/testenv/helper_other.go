//go:build !linux

package testenv

// RunHelperIfAsked does nothing off Linux: the helper actions (namespaces, set*id,
// BPF programs) exist only there, and only Linux tests start the helper.
func RunHelperIfAsked() {}
