package image

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"

	"github.com/gpsntp/gpsntp/ota"
)

// Update is what an over-the-air update sends from an image file: the root file system of slot A (where
// Build puts it) and the image's description.
type Update struct {
	Info     ota.Info
	RootSize int64  // bytes of the squashfs, rounded to 4 KiB
	RootSHA  string // hex SHA-256 of those bytes
	file     *os.File
}

// OpenUpdate reads an image file's description and hashes its root file system.
func OpenUpdate(path string) (*Update, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	u, err := readUpdate(f, path)
	if err != nil {
		f.Close()
		return nil, err
	}
	return u, nil
}

func readUpdate(f *os.File, path string) (*Update, error) {
	boot := io.NewSectionReader(f, BootStart*SectorSize, BootSize*SectorSize)
	text, err := ota.ReadFile(boot, ota.InfoFile)
	if err != nil {
		return nil, fmt.Errorf("%s is not a gpsntp image with over-the-air support (its boot partition has no %s): %w", path, ota.InfoFile, err)
	}
	info, err := ota.ParseInfo(string(text))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	hdr := make([]byte, ota.SquashfsHeaderSize)
	if _, err := f.ReadAt(hdr, RootAStart*SectorSize); err != nil {
		return nil, fmt.Errorf("%s: reading the root file system: %w", path, err)
	}
	size, err := ota.SquashfsSize(hdr, RootSize*SectorSize)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	h := sha256.New()
	if _, err := io.Copy(h, io.NewSectionReader(f, RootAStart*SectorSize, size)); err != nil {
		return nil, fmt.Errorf("%s: hashing the root file system: %w", path, err)
	}
	return &Update{Info: info, RootSize: size, RootSHA: hex.EncodeToString(h.Sum(nil)), file: f}, nil
}

// Root returns a reader of the root file system's bytes (a new one each call, for retries).
func (u *Update) Root() io.Reader {
	return io.NewSectionReader(u.file, RootAStart*SectorSize, u.RootSize)
}

// Close releases the image file.
func (u *Update) Close() error { return u.file.Close() }
