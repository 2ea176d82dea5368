// Package fattest makes FAT16 file systems for tests with the same Debian tools the image build uses
// (mkfs.fat, mcopy), shaped like a gokrazy boot partition (one FAT, 4 sectors per cluster), so tests of code
// that reads and rewrites boot files in place run against real FAT bytes, not a hand-made imitation.
package fattest

import (
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"testing"
)

// Make writes a FAT16 volume of sizeKiB holding files (name -> content, in the root directory) to path.
// It skips the test when the tools are missing, and fails it under CI, where `make deps` installs them.
func Make(t testing.TB, path string, sizeKiB int, files map[string]string) {
	t.Helper()
	for _, tool := range []string{"mkfs.fat", "mcopy"} {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("CI") != "" {
				t.Fatalf("%s missing under CI: run make deps", tool)
			}
			t.Skipf("%s missing (make deps installs it)", tool)
		}
	}
	stage := t.TempDir()
	var names []string
	for n, c := range files {
		if err := os.WriteFile(filepath.Join(stage, n), []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
		names = append(names, filepath.Join(stage, n))
	}
	sort.Strings(names)
	run(t, "mkfs.fat", "-C", "-F", "16", "-f", "1", "-s", "4", "-n", "GOKRAZY", path, strconv.Itoa(sizeKiB))
	if len(names) > 0 {
		run(t, "mcopy", append(append([]string{"-i", path, "-m", "-Q"}, names...), "::/")...)
	}
}

func run(t testing.TB, name string, args ...string) {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), "MTOOLS_SKIP_CHECK=1", "MTOOLSRC=/dev/null")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", name, err, out)
	}
}
