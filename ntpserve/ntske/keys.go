package ntske

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"time"

	"github.com/gpsntp/gpsntp/internal/timebase"
	"github.com/gpsntp/gpsntp/ntpserve/nts"
)

// KeySetFile is the name of the master key file in the state directory.
const KeySetFile = "nts-keys"

// LoadKeySet reads the master keys from path, or makes a fresh set and writes it there (mode 0600) when
// the file does not exist. A damaged file is an error, not silently replaced: replacing it would invalidate
// every client's cookies, and the operator should know why. The set is rotated to now before it is returned
// (and written again if that changed it).
func LoadKeySet(path string, p nts.KeyPolicy, now time.Time, rand io.Reader) (*nts.KeySet, error) {
	b, err := os.ReadFile(path)
	var ks *nts.KeySet
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if ks, err = nts.NewKeySet(p, timebase.FromTime(now), rand); err != nil {
			return nil, fmt.Errorf("ntske.LoadKeySet(%s): %w", path, err)
		}
		return ks, saveKeySet(path, ks)
	case err != nil:
		return nil, fmt.Errorf("ntske.LoadKeySet: %w", err)
	}
	if ks, err = nts.UnmarshalKeySet(b, p); err != nil {
		return nil, fmt.Errorf("ntske.LoadKeySet(%s): %w", path, err)
	}
	next, err := ks.Rotate(timebase.FromTime(now), rand)
	if err != nil {
		return nil, fmt.Errorf("ntske.LoadKeySet(%s): %w", path, err)
	}
	if next != ks {
		return next, saveKeySet(path, next)
	}
	return ks, nil
}

func saveKeySet(path string, ks *nts.KeySet) error {
	b, err := ks.MarshalBinary()
	if err != nil {
		return fmt.Errorf("ntske: encoding key set: %w", err)
	}
	return WriteFileAtomic(path, b, 0o600)
}

// RotateKeys keeps p's master keys rotated until ctx ends: it wakes at each rotation (and at least hourly,
// to drop expired keys), rotates, writes the set to path and publishes it with p.SetKeys. A failed write is
// reported through logf and retried at the next wake-up; the rotated keys are used anyway.
func RotateKeys(ctx context.Context, p *nts.Processor, path string, rand io.Reader, logf func(string, ...any)) {
	for {
		ks := p.Keys()
		wait := min(time.Until(ks.NextRotation().Time()), time.Hour)
		t := time.NewTimer(max(wait, time.Second))
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		next, err := ks.Rotate(timebase.FromTime(time.Now()), rand)
		if err != nil {
			logf("nts: rotating master keys: %v", err)
			continue
		}
		if next != ks {
			p.SetKeys(next)
			if err := saveKeySet(path, next); err != nil {
				logf("nts: saving master keys: %v", err)
			}
		}
	}
}
