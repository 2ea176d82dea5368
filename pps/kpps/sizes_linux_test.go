//go:build linux

package kpps

import (
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The layouts of linux/pps.h as golang.org/x/sys/unix declares them; on 64-bit kernels the ioctl numbers
// encode an 8-byte pointer: PPS_GETPARAMS _IOR('p', 0xa1, struct pps_kparams *) and so on.
func TestUAPILayouts(t *testing.T) {
	if unsafe.Sizeof(uintptr(0)) != 8 {
		t.Skip("sizes below are for 64-bit targets")
	}
	sizes := map[string][2]uintptr{
		"pps_ktime":   {unsafe.Sizeof(unix.PPSKTime{}), 16},
		"pps_kinfo":   {unsafe.Sizeof(unix.PPSKInfo{}), 48},
		"pps_fdata":   {unsafe.Sizeof(unix.PPSFData{}), 64},
		"pps_kparams": {unsafe.Sizeof(unix.PPSKParams{}), 40},
	}
	for name, s := range sizes {
		if s[0] != s[1] {
			t.Errorf("%s: %d bytes, want %d", name, s[0], s[1])
		}
	}
	ioctls := map[string][2]uint{
		"PPS_GETPARAMS": {unix.PPS_GETPARAMS, 2<<30 | 8<<16 | 'p'<<8 | 0xa1},
		"PPS_SETPARAMS": {unix.PPS_SETPARAMS, 1<<30 | 8<<16 | 'p'<<8 | 0xa2},
		"PPS_GETCAP":    {unix.PPS_GETCAP, 2<<30 | 8<<16 | 'p'<<8 | 0xa3},
		"PPS_FETCH":     {unix.PPS_FETCH, 3<<30 | 8<<16 | 'p'<<8 | 0xa4},
	}
	for name, v := range ioctls {
		if v[0] != v[1] {
			t.Errorf("%s = %#x, want %#x", name, v[0], v[1])
		}
	}
}
