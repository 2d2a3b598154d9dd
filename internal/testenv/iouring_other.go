//go:build !linux

package testenv

import "errors"

func iouringDo(string) error { return errors.New("io_uring exists on linux only") }
