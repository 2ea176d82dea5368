// Package statefile keeps small state files (the drift file; later the leap-seconds cache and NTS keys) in
// the state directory (/perm/gpsntp on gokrazy) so that a power cut at any instant leaves either the old
// file or the new one, never a torn mix.
//
// WriteAtomic follows the classic sequence: write a temporary file in the same directory, fsync it, rename it
// over the target (atomic within one file system), then fsync the directory so the rename itself is durable.
// Readers bound what they read: a state file that grew beyond its format's size is corrupt, not a reason to
// allocate.
//
// It is an edge-side helper: it imports os, so cores never use it; cmd/gpsntpd loads and saves through it and
// hands the decoded values to the pure packages (discipline.DecodeDrift, EncodeDrift).
package statefile

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/gpsntp/gpsntp/discipline"
)

// ErrTooLarge is returned by Read for a file beyond its size limit.
var ErrTooLarge = errors.New("statefile: file larger than its format allows")

// WriteAtomic replaces dir/name with data, durably.
func WriteAtomic(dir, name string, data []byte, perm os.FileMode) (err error) {
	if name == "" || strings.ContainsRune(name, os.PathSeparator) || name == "." || name == ".." {
		return fmt.Errorf("statefile: write %q in %s: not a plain file name", name, dir)
	}
	target := filepath.Join(dir, name)
	tmp, err := os.CreateTemp(dir, "."+name+".tmp-*")
	if err != nil {
		return fmt.Errorf("statefile: create temporary for %s: %w", target, err)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if _, err = tmp.Write(data); err != nil {
		return fmt.Errorf("statefile: write %s: %w", tmp.Name(), err)
	}
	if err = tmp.Chmod(perm); err != nil {
		return fmt.Errorf("statefile: chmod %s: %w", tmp.Name(), err)
	}
	if err = tmp.Sync(); err != nil {
		return fmt.Errorf("statefile: fsync %s: %w", tmp.Name(), err)
	}
	if err = tmp.Close(); err != nil {
		return fmt.Errorf("statefile: close %s: %w", tmp.Name(), err)
	}
	if err = os.Rename(tmp.Name(), target); err != nil {
		return fmt.Errorf("statefile: rename %s to %s: %w", tmp.Name(), target, err)
	}
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("statefile: open directory %s: %w", dir, err)
	}
	defer d.Close()
	if err = d.Sync(); err != nil {
		return fmt.Errorf("statefile: fsync directory %s: %w", dir, err)
	}
	return nil
}

// Read returns the content of path, refusing more than limit bytes. A missing file's error wraps
// fs.ErrNotExist.
func Read(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("statefile: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, fmt.Errorf("statefile: read %s: %w", path, err)
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("statefile: %s: %w (limit %d bytes)", path, ErrTooLarge, limit)
	}
	return b, nil
}

// DriftFile is the drift file's name in the state directory.
const DriftFile = "gpsntp.drift"

// LoadDrift reads and decodes the drift file in dir. A missing file's error wraps fs.ErrNotExist; a corrupt
// one's wraps discipline.ErrCorruptDrift (or ErrTooLarge): the caller reports it and starts from zero.
func LoadDrift(dir string) (discipline.Drift, error) {
	path := filepath.Join(dir, DriftFile)
	b, err := Read(path, discipline.MaxDriftFile)
	if err != nil {
		return discipline.Drift{}, err
	}
	d, err := discipline.DecodeDrift(b)
	if err != nil {
		return discipline.Drift{}, fmt.Errorf("statefile: %s: %w", path, err)
	}
	return d, nil
}

// SaveDrift encodes d and replaces the drift file in dir atomically.
func SaveDrift(dir string, d discipline.Drift) error {
	b, err := discipline.EncodeDrift(d)
	if err != nil {
		return fmt.Errorf("statefile: save drift: %w", err)
	}
	return WriteAtomic(dir, DriftFile, b, 0o644)
}
