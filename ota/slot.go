package ota

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// Partition numbers of a gokrazy disk.
const (
	BootPartition = 1
	SlotA         = 2
	SlotB         = 3
	PermPartition = 4
)

// Other is the root slot that is not s.
func Other(s int) int {
	if s == SlotA {
		return SlotB
	}
	return SlotA
}

// The root= forms gokrazy's init resolves: partition 1's GPT GUID plus an offset (what our images write),
// an MBR disk signature plus a partition number, and plain device names.
var (
	rootGPT  = regexp.MustCompile(`^root=PARTUUID=([0-9A-Fa-f-]+)/PARTNROFF=([12])$`)
	rootMBR  = regexp.MustCompile(`^root=PARTUUID=([0-9A-Fa-f]{8})-0([23])$`)
	rootPath = regexp.MustCompile(`^root=/dev/(?:mmcblk[01]p|sda|vda|loop0p|nvme0n1p)([23])$`)
)

// RootSlot returns the root slot (2 or 3) that a kernel command line boots, and the GUID of partition 1
// when the GPT form names it ("" otherwise). Exactly one root= word must be present.
func RootSlot(cmdline string) (slot int, bootGUID string, err error) {
	var root string
	for _, w := range words(cmdline) {
		if strings.HasPrefix(w, "root=") {
			if root != "" {
				return 0, "", fmt.Errorf("ota: command line has two root= words (%q, %q)", root, w)
			}
			root = w
		}
	}
	if root == "" {
		return 0, "", fmt.Errorf("ota: command line %q has no root=", truncate(cmdline, 120))
	}
	if m := rootGPT.FindStringSubmatch(root); m != nil {
		off, _ := strconv.Atoi(m[2])
		return off + 1, strings.ToLower(m[1]), nil
	}
	if m := rootMBR.FindStringSubmatch(root); m != nil {
		n, _ := strconv.Atoi(m[2])
		return n, "", nil
	}
	if m := rootPath.FindStringSubmatch(root); m != nil {
		n, _ := strconv.Atoi(m[1])
		return n, "", nil
	}
	return 0, "", fmt.Errorf("ota: %q names no root slot gokrazy knows (want PARTUUID=<guid>/PARTNROFF=1|2)", root)
}

// WithRootSlot returns cmdline with its root= word pointing at slot instead, in the same form and at the
// same length, so it can be written in place. Every other byte is kept.
func WithRootSlot(cmdline string, slot int) (string, error) {
	if slot != SlotA && slot != SlotB {
		return "", fmt.Errorf("ota: root slot %d: want 2 or 3", slot)
	}
	if _, _, err := RootSlot(cmdline); err != nil {
		return "", err
	}
	start := strings.Index(cmdline, "root=")
	for start > 0 && !isSpace(cmdline[start-1]) {
		// "root=" inside another word (e.g. "xroot=..."): find the real one.
		next := strings.Index(cmdline[start+1:], "root=")
		if next < 0 {
			return "", fmt.Errorf("ota: no root= word in %q", truncate(cmdline, 120))
		}
		start += 1 + next
	}
	end := start
	for end < len(cmdline) && !isSpace(cmdline[end]) {
		end++
	}
	word := cmdline[start:end]
	var repl string
	switch {
	case rootGPT.MatchString(word):
		repl = word[:len(word)-1] + strconv.Itoa(slot-1)
	default:
		repl = word[:len(word)-1] + strconv.Itoa(slot)
	}
	return cmdline[:start] + repl + cmdline[end:], nil
}

// isSpace is the kernel's isspace (lib/ctype.c), by which it splits the command line into words: space,
// \t \n \v \f \r, and 0xA0 (Latin-1's no-break space). RootSlot and WithRootSlot must agree with the kernel
// and with each other on where root= ends; strings.Fields, which RootSlot used, splits on Unicode spaces,
// and a fuzzed line ending in \v made the two disagree.
func isSpace(b byte) bool { return b == ' ' || (b >= '\t' && b <= '\r') || b == 0xa0 }

// words splits cmdline as the kernel does, byte by byte.
func words(cmdline string) []string {
	var out []string
	start := -1
	for i := 0; i <= len(cmdline); i++ {
		if i == len(cmdline) || isSpace(cmdline[i]) {
			if start >= 0 {
				out = append(out, cmdline[start:i])
				start = -1
			}
		} else if start < 0 {
			start = i
		}
	}
	return out
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
