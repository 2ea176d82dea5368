package ntpserve

import (
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/gpsntp/gpsntp/internal/timebase"
	"github.com/gpsntp/gpsntp/ntpserve/wire"
)

// Many goroutines handle requests (one per socket in production) while the daemon publishes snapshots.
// Every reply comes from one snapshot or the other, never a mix, and every request is counted once.
// Run with -race.
func TestConcurrentHandleAndPublish(t *testing.T) {
	clk := newFakeClock(t0)
	s := mustServer(t, Config{Rate: 50, Burst: 10, Clients: 512}, clk)
	a := lockedSnapshot(t0)
	b := &timebase.Snapshot{Leap: timebase.LeapInsert, Stratum: 2, RefID: timebase.RefIDFromString("PPS"),
		RefTime: t0 + timebase.Second, Precision: -10, RootDelay: time.Millisecond, RootDispersion: time.Second}
	const (
		workers = 8
		perG    = 3000
	)
	stop := make(chan struct{})
	var pubWG sync.WaitGroup
	pubWG.Add(1)
	go func() {
		defer pubWG.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			switch i % 3 {
			case 0:
				s.Publish(a)
			case 1:
				s.Publish(b)
			default:
				_ = s.Stats()
			}
		}
	}()
	var wg sync.WaitGroup
	errs := make(chan string, workers)
	for g := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req := request(4, wire.ModeClient, 6)
			resp := make([]byte, 64)
			for i := range perG {
				// Clients shared between goroutines, so the limiter's shards see real contention.
				src := netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 0, byte(i % 7), byte(i % 97)}), 123)
				rx := t0 + timebase.Instant(i)*timebase.Instant(time.Millisecond)
				if g%4 == 3 {
					req[0] = 0x26 // some goroutines send control-mode packets too
				}
				n := s.Handle(resp, req, src, rx)
				if n == 0 {
					continue
				}
				var h wire.Header
				if err := h.Unmarshal(resp[:n]); err != nil {
					errs <- err.Error()
					return
				}
				okA := h.Stratum == 1 && h.RefID == a.RefID && h.Leap == a.Leap && h.Precision == a.Precision && h.ReferenceTime == a.RefTime.NTP()
				okB := h.Stratum == 2 && h.RefID == b.RefID && h.Leap == b.Leap && h.Precision == b.Precision && h.ReferenceTime == b.RefTime.NTP()
				okKoD := h.Stratum == 0 && h.RefID == kissRATE
				okUnsync := h.Stratum == 16 // before the publisher's first Publish
				if !(okA || okB || okKoD || okUnsync) || h.OriginTime != reqXmt {
					errs <- "mixed or wrong reply"
					return
				}
			}
		}()
	}
	wg.Wait()
	close(stop)
	pubWG.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	st := s.Stats()
	if st.Requests != workers*perG {
		t.Fatalf("requests %d, want %d: %+v", st.Requests, workers*perG, st)
	}
	if st.Ignored != 2*perG || st.Served+st.RateLimited != 6*perG || st.ClientsTracked > st.ClientsCapacity {
		t.Fatalf("%+v", st)
	}
}
