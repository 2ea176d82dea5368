//go:build !linux

package main

import "errors"

func rebootSystem(bool) error { return errors.New("rebooting is only implemented on Linux") }
