package image

import (
	"strings"
	"testing"
)

func FuzzCmdline(f *testing.F) {
	f.Add("root=/dev/mmcblk0p2 init=/gokrazy/init rootwait panic=10 oops=panic", "nohz=off")
	f.Add("console=serial0,115200 root=/dev/sda2", "")
	f.Fuzz(func(t *testing.T, kernel, extra string) {
		var ex []string
		if extra != "" {
			ex = []string{extra}
		}
		got, err := Cmdline(kernel, "ntppi", ex)
		if err != nil {
			return
		}
		if !strings.HasPrefix(got, "console=tty1 ") || strings.ContainsAny(got, "\n\t") {
			t.Fatalf("Cmdline(%q, %q) = %q", kernel, extra, got)
		}
		roots := 0
		for _, f := range strings.Fields(got)[1:] {
			if strings.HasPrefix(f, "root=") {
				roots++
			}
			if strings.HasPrefix(f, "console=") && !strings.HasPrefix(extra, "console=") {
				t.Fatalf("a kernel-package console survived: %q", got)
			}
		}
		if roots != 1 {
			t.Fatalf("Cmdline(%q, %q) = %q has %d root= arguments", kernel, extra, got, roots)
		}
	})
}
