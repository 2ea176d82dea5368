package statefile

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/gpsntp/gpsntp/discipline"
	"github.com/gpsntp/gpsntp/internal/timebase"
)

func TestWriteAtomicReplacesAndLeavesNoTemporaries(t *testing.T) {
	dir := t.TempDir()
	for _, content := range []string{"first\n", "second, longer\n", ""} {
		if err := WriteAtomic(dir, "state", []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		b, err := Read(filepath.Join(dir, "state"), 100)
		if err != nil || string(b) != content {
			t.Fatalf("read back %q, %v; want %q", b, err, content)
		}
	}
	fi, err := os.Stat(filepath.Join(dir, "state"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, %v", fi.Mode(), err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("directory holds %d entries, want only the state file", len(entries))
	}
}

func TestWriteAtomicFailures(t *testing.T) {
	dir := t.TempDir()
	// The target is a non-empty directory: rename fails, the temporary is removed, the old content stays.
	if err := os.MkdirAll(filepath.Join(dir, "busy", "x"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := WriteAtomic(dir, "busy", []byte("x"), 0o644); err == nil {
		t.Error("rename over a directory succeeded")
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("temporary left behind: %d entries", len(entries))
	}
	if err := WriteAtomic(filepath.Join(dir, "missing"), "f", nil, 0o644); err == nil {
		t.Error("write into a missing directory succeeded")
	}
	for _, name := range []string{"", ".", "..", "a/b"} {
		if err := WriteAtomic(dir, name, nil, 0o644); err == nil {
			t.Errorf("name %q accepted", name)
		}
	}
}

func TestReadLimits(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "big")
	if err := os.WriteFile(p, make([]byte, 300), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Read(p, 256); !errors.Is(err, ErrTooLarge) {
		t.Errorf("300-byte file under a 256 limit: %v", err)
	}
	if b, err := Read(p, 300); err != nil || len(b) != 300 {
		t.Errorf("exact limit: %d bytes, %v", len(b), err)
	}
	if _, err := Read(filepath.Join(dir, "none"), 10); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
}

func TestDriftFile(t *testing.T) {
	dir := t.TempDir()
	if _, err := LoadDrift(dir); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("no drift file yet: %v", err)
	}
	d := discipline.Drift{FrequencyPPM: -12.5, ErrorPPM: 0.02, Written: timebase.Date(2026, 11, 22, 12, 0, 0, 0)}
	if err := SaveDrift(dir, d); err != nil {
		t.Fatal(err)
	}
	got, err := LoadDrift(dir)
	if err != nil || got != d {
		t.Errorf("LoadDrift = %+v, %v; want %+v", got, err, d)
	}
	// A torn or foreign file is refused with a clear error, never used.
	if err := os.WriteFile(filepath.Join(dir, DriftFile), []byte("-12.5 0.02"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadDrift(dir); !errors.Is(err, discipline.ErrCorruptDrift) {
		t.Errorf("torn drift file: %v", err)
	}
	if err := SaveDrift(dir, discipline.Drift{FrequencyPPM: 900, Written: 1e9}); err == nil {
		t.Error("out-of-range drift saved")
	}
}
