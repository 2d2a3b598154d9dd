package sensor

import "golang.org/x/sys/unix"

func mountTracefs() error {
	return unix.Mount("tracefs", "/sys/kernel/tracing", "tracefs", 0, "")
}
