package image

import (
	"io"

	"github.com/gpsntp/gpsntp/ota"
)

// ReadFAT16File reads path (e.g. "/cmdline.txt") from a FAT file system under the same assumptions
// gokrazy's on-device reader makes, and fails where that reader would silently read the wrong bytes. The
// reader lives in package ota, which rewrites the same files on the box; see ota.FAT16Extent.
func ReadFAT16File(r io.ReaderAt, path string) ([]byte, error) {
	return ota.ReadFile(r, path)
}
