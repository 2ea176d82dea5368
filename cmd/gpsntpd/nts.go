package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log"
	"net"
	"net/http"
	"net/netip"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/gpsntp/gpsntp/internal/status"
	"github.com/gpsntp/gpsntp/ntpserve/nts"
	"github.com/gpsntp/gpsntp/ntpserve/ntske"
)

// ntsOptions are the NTS flags.
type ntsOptions struct {
	keListen          []string
	certFile          string
	keyFile           string
	names             []string
	ntpServer         string
	aeads             []nts.AlgorithmID
	rotation          time.Duration
	lifetime          time.Duration
	maxConns          int
	maxConnsPerClient int
	preferClassical   bool
	rate              float64
	burst             int
	aeadsString       string
}

// parseAEADs reads a comma-separated list of AEAD algorithm numbers (RFC 8915's registry: 15, 17, 30).
func parseAEADs(s string) ([]nts.AlgorithmID, error) {
	var out []nts.AlgorithmID
	for _, p := range strings.Split(s, ",") {
		p = strings.TrimSpace(p)
		if p == "" {
			continue
		}
		n, err := strconv.ParseUint(p, 10, 16)
		if err != nil {
			return nil, fmt.Errorf("%q is not an AEAD number", p)
		}
		id := nts.AlgorithmID(n)
		if !id.Supported() {
			return nil, fmt.Errorf("AEAD %d is not supported (15, 17 and 30 are)", n)
		}
		out = append(out, id)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no AEAD given")
	}
	return out, nil
}

// ntsService is NTS as the daemon runs it: the master keys shared by the NTP path (which opens cookies)
// and the NTS-KE edge (which seals them), the KE listeners, and the key rotation.
type ntsService struct {
	proc    *nts.Processor
	keyPath string
	ke      *ntske.Server
	lns     []net.Listener
	listen  []string
}

// newNTSProcessor loads or creates the master key set in the state dir (so a restart keeps every client's
// cookies valid) and returns the processor the NTP server authenticates with.
func newNTSProcessor(stateDir string, o ntsOptions) (*ntsService, error) {
	path := filepath.Join(stateDir, ntske.KeySetFile)
	ks, err := ntske.LoadKeySet(path, nts.KeyPolicy{Rotation: o.rotation, Lifetime: o.lifetime}, time.Now(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("NTS keys %s: %w", path, err)
	}
	proc, err := nts.NewProcessor(nts.ProcessorConfig{Rand: rand.Reader}, ks)
	if err != nil {
		return nil, fmt.Errorf("NTS: %w", err)
	}
	return &ntsService{proc: proc, keyPath: path}, nil
}

// startKE binds the NTS-KE listeners; ntpPort is announced to clients when it is not 123.
func (n *ntsService) startKE(stateDir string, o ntsOptions, ntpPort uint16) error {
	hosts, addrs := ntske.LocalNames()
	hosts = append(hosts, o.names...)
	ke, err := ntske.New(ntske.Config{
		CertFile: o.certFile, KeyFile: o.keyFile, StateDir: stateDir,
		Hosts: hosts, Addrs: addrs,
		KE:        nts.KEConfig{AEADs: o.aeads, NTPServer: o.ntpServer, NTPPort: ntpPort},
		Processor: n.proc, Rand: rand.Reader,
		MaxConns: o.maxConns, MaxConnsPerClient: o.maxConnsPerClient, Rate: o.rate, Burst: o.burst,
		PreferClassical: o.preferClassical,
	})
	if err != nil {
		return fmt.Errorf("NTS-KE: %w", err)
	}
	n.ke = ke
	for _, a := range o.keListen {
		ln, err := net.Listen("tcp", a)
		if err != nil {
			n.close()
			return fmt.Errorf("listen tcp %s: %w", a, unwrapOpError(err))
		}
		n.lns = append(n.lns, ln)
		n.listen = append(n.listen, ln.Addr().String())
	}
	return nil
}

// run serves NTS-KE and rotates the master keys until ctx ends.
func (n *ntsService) run(ctx context.Context) {
	for _, ln := range n.lns {
		go func() {
			if err := n.ke.Serve(ln); err != nil && ctx.Err() == nil {
				log.Printf("gpsntpd: NTS-KE %s: %v", ln.Addr(), err)
			}
		}()
	}
	go ntske.RotateKeys(ctx, n.proc, n.keyPath, rand.Reader, log.Printf)
	<-ctx.Done()
	n.close()
}

func (n *ntsService) close() {
	if n.ke != nil {
		n.ke.Close()
	}
	for _, ln := range n.lns {
		ln.Close()
	}
}

// summary is the NTS section of the status document.
func (n *ntsService) summary() *status.NTS {
	st := n.proc.Stats()
	out := &status.NTS{KEListen: n.listen, Authentic: st.Authentic, NAKs: st.NAKCookie + st.NAKAuth}
	if n.ke != nil {
		ci := n.ke.Certificate()
		out.CertSHA256 = hex.EncodeToString(ci.SHA256[:])
		out.CertNotAfter = ci.NotAfter.UTC().Format(time.RFC3339)
		if ci.ReloadError != nil {
			out.ReloadError = ci.ReloadError.Error()
		}
		ks := n.ke.Stats()
		out.Handshakes = ks.Served
		out.KEFailed = ks.HandshakeFailed + ks.BadRequest + ks.RateLimited + ks.ClientLimited + ks.Failed
	}
	return out
}

// apiNTS is GET /api/nts: where NTS-KE listens, the certificate to pin (PEM and SHA-256 fingerprint), and
// the counters. No secret is in it: the certificate is public by nature.
func (n *ntsService) apiNTS(w http.ResponseWriter, r *http.Request) {
	type cert struct {
		PEM         string   `json:"pem"`
		SHA256      string   `json:"sha256"`
		DNSNames    []string `json:"dns_names"`
		IPAddresses []string `json:"ip_addresses"`
		NotAfter    string   `json:"not_after"`
		ReloadError string   `json:"reload_error,omitempty"`
	}
	doc := struct {
		KEListen    []string           `json:"ke_listen"`
		Certificate *cert              `json:"certificate,omitempty"`
		KE          ntske.Stats        `json:"ke"`
		NTP         nts.ProcessorStats `json:"ntp"`
	}{KEListen: n.listen, NTP: n.proc.Stats()}
	if n.ke != nil {
		ci := n.ke.Certificate()
		c := &cert{PEM: string(ci.PEM), SHA256: hex.EncodeToString(ci.SHA256[:]), DNSNames: ci.DNSNames, NotAfter: ci.NotAfter.UTC().Format(time.RFC3339)}
		for _, a := range ci.IPAddresses {
			c.IPAddresses = append(c.IPAddresses, a.String())
		}
		if ci.ReloadError != nil {
			c.ReloadError = ci.ReloadError.Error()
		}
		doc.Certificate = c
		doc.KE = n.ke.Stats()
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(doc)
}

// apiNTSCert serves the certificate as a PEM download, for clients to pin.
func (n *ntsService) apiNTSCert(w http.ResponseWriter, r *http.Request) {
	if n.ke == nil {
		http.Error(w, "NTS-KE is not running", http.StatusNotFound)
		return
	}
	w.Header().Set("Content-Type", "application/x-pem-file")
	w.Header().Set("Content-Disposition", `attachment; filename="gpsntp-nts.pem"`)
	w.Write(n.ke.Certificate().PEM)
}

// ntpPortOf returns the port of the first NTP address, for the NTPv4 Port Negotiation record.
func ntpPortOf(addrs []netip.AddrPort) uint16 {
	if len(addrs) == 0 {
		return 0
	}
	return addrs[0].Port()
}
