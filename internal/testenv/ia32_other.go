//go:build !(linux && amd64)

package testenv

import "errors"

func ia32Do(string) error {
	return errors.New("32-bit syscalls are only tested on linux/amd64")
}
