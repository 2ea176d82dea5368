package ota

import (
	"encoding/json"
	"fmt"
	"strings"
)

// Boot-partition files of the one-shot trial. The Raspberry Pi firmware, when the reboot carried the
// tryboot flag, reads TrybootConfig instead of config.txt and clears the flag before it starts the
// kernel; TrybootConfig differs from config.txt by one line that names TrialCmdline as the command line.
// All three names are 8.3 so gokrazy's FAT reader and ours find them.
const (
	ConfigFile    = "/config.txt"
	CmdlineFile   = "/cmdline.txt"
	TrybootConfig = "/tryboot.txt"
	TrialCmdline  = "/trycmd.txt"
	// InfoFile describes the image (board profile, version, kernel digest) so an update can be checked
	// against the box before anything is written.
	InfoFile = "/gpsntp.txt"
)

// TrybootConfigText is tryboot.txt for a config.txt: the same settings, then cmdline=trycmd.txt in an [all]
// section so no conditional section of config.txt can hide it.
func TrybootConfigText(configTxt string) string {
	return strings.TrimRight(configTxt, "\n") + "\n\n# gpsntp: one-shot trial boot of the other root slot (see package ota)\n[all]\ncmdline=" +
		strings.TrimPrefix(TrialCmdline, "/") + "\n"
}

// FirmwareCmdlineFile is the command-line file the Pi firmware would read with configuration cfg: the last
// cmdline= setting outside a section that does not apply, else cmdline.txt. It understands the [all] and
// [none] filters and treats every other filter as not matching, which is what matters for our files (the
// VM's "firmware" uses it; a Pi's firmware does the real thing).
func FirmwareCmdlineFile(cfg string) (string, error) {
	file := strings.TrimPrefix(CmdlineFile, "/")
	active := true
	for _, line := range strings.Split(cfg, "\n") {
		line = strings.TrimSpace(line)
		switch {
		case line == "" || strings.HasPrefix(line, "#"):
		case strings.HasPrefix(line, "["):
			active = line == "[all]"
		case active && strings.HasPrefix(line, "cmdline="):
			file = strings.TrimPrefix(line, "cmdline=")
		}
	}
	if file == "" || strings.ContainsAny(file, "/\\ ") || len(file) > 12 {
		return "", fmt.Errorf("ota: cmdline=%q: want an 8.3 file name in the boot partition's root", file)
	}
	return "/" + file, nil
}

// Info is the image description in InfoFile: key=value lines.
type Info struct {
	Profile string `json:"profile"`       // board/HAT, e.g. "rpi4/uputronics"
	Version string `json:"version"`       // gpsntpd's version in the image (as flashed: updates replace only the root)
	Kernel  string `json:"kernel_sha256"` // hex SHA-256 of the boot partition's vmlinuz
}

// Text renders i as InfoFile's contents.
func (i Info) Text() string {
	return fmt.Sprintf("profile=%s\nversion=%s\nkernel_sha256=%s\n", i.Profile, i.Version, i.Kernel)
}

// ParseInfo reads InfoFile's contents. Unknown keys are errors (a newer format is not silently half-read);
// trailing padding spaces are ignored.
func ParseInfo(text string) (Info, error) {
	var i Info
	seen := map[string]bool{}
	for _, line := range strings.Split(strings.TrimRight(text, " \n"), "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			return Info{}, fmt.Errorf("ota: image info line %q is not key=value", truncate(line, 60))
		}
		if seen[k] {
			return Info{}, fmt.Errorf("ota: image info repeats %q", k)
		}
		seen[k] = true
		switch k {
		case "profile":
			i.Profile = v
		case "version":
			i.Version = v
		case "kernel_sha256":
			if len(v) != 64 || strings.Trim(v, "0123456789abcdef") != "" {
				return Info{}, fmt.Errorf("ota: image info kernel_sha256 %q is not a hex SHA-256", truncate(v, 70))
			}
			i.Kernel = v
		default:
			return Info{}, fmt.Errorf("ota: image info has unknown key %q", truncate(k, 40))
		}
	}
	if i.Profile == "" || i.Kernel == "" {
		return Info{}, fmt.Errorf("ota: image info lacks profile or kernel_sha256")
	}
	return i, nil
}

// Compatible says whether an image described by next may replace the root of a box running cur. The root
// slot carries gpsntpd and its board flags, the boot partition the kernel and firmware; an update writes
// only the root (the boot partition has no second copy, so rewriting it could brick the box), so the
// kernel must be the one the box already boots, and the board profile must match.
func Compatible(cur, next Info) error {
	if cur.Profile != next.Profile {
		return fmt.Errorf("ota: the image is for %s, the box is %s: build the image with the box's BOARD and HAT", next.Profile, cur.Profile)
	}
	if cur.Kernel != next.Kernel {
		return fmt.Errorf("ota: the image brings another kernel (sha256 %.12s, the box boots %.12s); kernel and firmware live in the boot partition, which has no A/B copy, so an over-the-air update cannot roll them back: reflash the SD card for this one", next.Kernel, cur.Kernel)
	}
	return nil
}

// SBOMVersion reads gpsntpd's version from a root file system's /etc/gokrazy/sbom.json (written by the
// image build: {"sbom_hash": ..., "sbom": {"gpsntp_version": ...}}).
func SBOMVersion(b []byte) (string, error) {
	var doc struct {
		SBOM struct {
			Version string `json:"gpsntp_version"`
		} `json:"sbom"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		return "", fmt.Errorf("ota: sbom.json: %w", err)
	}
	if doc.SBOM.Version == "" {
		return "", fmt.Errorf("ota: sbom.json names no gpsntp_version")
	}
	return doc.SBOM.Version, nil
}
