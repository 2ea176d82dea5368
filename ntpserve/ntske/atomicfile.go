package ntske

import (
	"fmt"
	"os"
	"path/filepath"
)

// WriteFileAtomic replaces path with data so that a reader (or a restart after a crash) sees either the old
// file or the new one, never a mix: it writes a temporary file in the same directory with mode perm,
// fsyncs it, renames it over path and fsyncs the directory so the rename itself is durable.
func WriteFileAtomic(path string, data []byte, perm os.FileMode) (err error) {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("ntske.WriteFileAtomic(%s): %w", path, err)
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	// CreateTemp makes the file 0600; Chmod before any byte is written, so a secret is never readable
	// under a wider mode, and a narrower perm than 0600 is honoured too.
	if err = f.Chmod(perm); err != nil {
		return fmt.Errorf("ntske.WriteFileAtomic(%s): chmod: %w", path, err)
	}
	if _, err = f.Write(data); err != nil {
		return fmt.Errorf("ntske.WriteFileAtomic(%s): write: %w", path, err)
	}
	if err = f.Sync(); err != nil {
		return fmt.Errorf("ntske.WriteFileAtomic(%s): fsync: %w", path, err)
	}
	if err = f.Close(); err != nil {
		return fmt.Errorf("ntske.WriteFileAtomic(%s): close: %w", path, err)
	}
	if err = os.Rename(tmp, path); err != nil {
		return fmt.Errorf("ntske.WriteFileAtomic(%s): rename: %w", path, err)
	}
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("ntske.WriteFileAtomic(%s): open dir: %w", path, err)
	}
	defer d.Close()
	if err = d.Sync(); err != nil {
		return fmt.Errorf("ntske.WriteFileAtomic(%s): fsync dir: %w", path, err)
	}
	return nil
}
