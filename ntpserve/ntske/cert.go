package ntske

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"
)

// File names of the self-signed certificate in the state directory.
const (
	SelfSignedCertFile = "nts-cert.pem"
	SelfSignedKeyFile  = "nts-key.pem"
)

// EnsureSelfSigned makes sure dir holds a self-signed ECDSA P-256 certificate whose SANs cover hosts and
// addrs, and returns the paths of the certificate and key files. It reuses the existing certificate when it
// covers them; otherwise it issues a new one (with the union of the old and new names, and the old key, so
// that clients pinning the public key keep working).
//
// The validity does not depend on the clock at the time of issue: a board without a real-time clock may
// start in 1970. NotBefore is 2000-01-01 and NotAfter 9999-12-31 23:59:59 (RFC 5280's "no well-defined
// expiration"); trust comes from pinning the certificate, not from its dates.
func EnsureSelfSigned(dir string, hosts []string, addrs []netip.Addr) (certFile, keyFile string, err error) {
	certFile, keyFile = filepath.Join(dir, SelfSignedCertFile), filepath.Join(dir, SelfSignedKeyFile)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", "", fmt.Errorf("ntske.EnsureSelfSigned: %w", err)
	}
	var key *ecdsa.PrivateKey
	if old, err := tls.LoadX509KeyPair(certFile, keyFile); err == nil {
		leaf := old.Leaf
		if covers(leaf, hosts, addrs) {
			return certFile, keyFile, nil
		}
		if k, ok := old.PrivateKey.(*ecdsa.PrivateKey); ok {
			key = k
		}
		hosts = union(hosts, leaf.DNSNames)
		for _, ip := range leaf.IPAddresses {
			if a, ok := netip.AddrFromSlice(ip); ok {
				addrs = append(addrs, a.Unmap())
			}
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return "", "", fmt.Errorf("ntske.EnsureSelfSigned: existing pair in %s: %w", dir, err)
	}
	if key == nil {
		if key, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
			return "", "", fmt.Errorf("ntske.EnsureSelfSigned: %w", err)
		}
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return "", "", fmt.Errorf("ntske.EnsureSelfSigned: %w", err)
	}
	cn := "gpsntp NTS"
	if len(hosts) > 0 {
		cn = hosts[0]
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: cn, Organization: []string{"gpsntp self-signed"}},
		NotBefore:             time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC),
		NotAfter:              time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true, // its own trust anchor: clients list this file as a trusted CA
		DNSNames:              slices.Compact(slices.Sorted(slices.Values(hosts))),
	}
	seen := map[netip.Addr]bool{}
	for _, a := range addrs {
		a = a.Unmap().WithZone("")
		if a.IsValid() && !seen[a] {
			seen[a] = true
			tmpl.IPAddresses = append(tmpl.IPAddresses, net.IP(a.AsSlice()))
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return "", "", fmt.Errorf("ntske.EnsureSelfSigned: %w", err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return "", "", fmt.Errorf("ntske.EnsureSelfSigned: %w", err)
	}
	// Key first: a certificate must never be visible without its key.
	if err := WriteFileAtomic(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		return "", "", err
	}
	if err := WriteFileAtomic(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		return "", "", err
	}
	return certFile, keyFile, nil
}

func covers(c *x509.Certificate, hosts []string, addrs []netip.Addr) bool {
	for _, h := range hosts {
		if !slices.Contains(c.DNSNames, h) {
			return false
		}
	}
	for _, a := range addrs {
		ok := false
		for _, ip := range c.IPAddresses {
			if b, valid := netip.AddrFromSlice(ip); valid && b.Unmap() == a.Unmap().WithZone("") {
				ok = true
			}
		}
		if !ok {
			return false
		}
	}
	return true
}

func union(a, b []string) []string {
	out := slices.Clone(a)
	for _, s := range b {
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

// LocalNames returns the host name and the addresses of this machine's up interfaces, for the SANs of a
// self-signed certificate. Link-local IPv6 addresses are left out (a certificate cannot name their zone).
func LocalNames() (hosts []string, addrs []netip.Addr) {
	if h, err := os.Hostname(); err == nil && h != "" {
		hosts = append(hosts, h)
	}
	hosts = append(hosts, "localhost")
	ifaddrs, err := net.InterfaceAddrs()
	if err != nil {
		return hosts, nil
	}
	for _, ia := range ifaddrs {
		if p, err := netip.ParsePrefix(ia.String()); err == nil {
			if a := p.Addr(); !a.IsLinkLocalUnicast() {
				addrs = append(addrs, a)
			}
		}
	}
	return hosts, addrs
}

// certStore serves the certificate from a file pair and reloads it when the files change. Changes are
// noticed at a handshake, at most once per checkEvery; a pair that fails to load keeps the previous one.
type certStore struct {
	certFile, keyFile string
	checkEvery        time.Duration

	mu        sync.Mutex
	cert      *tls.Certificate
	stamp     [2]fileStamp
	lastCheck time.Time
	lastErr   error
}

type fileStamp struct {
	mod  time.Time
	size int64
}

func stampOf(path string) (fileStamp, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return fileStamp{}, err
	}
	return fileStamp{fi.ModTime(), fi.Size()}, nil
}

func newCertStore(certFile, keyFile string, checkEvery time.Duration) (*certStore, error) {
	s := &certStore{certFile: certFile, keyFile: keyFile, checkEvery: checkEvery}
	if err := s.load(); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *certStore) load() error {
	cs, err1 := stampOf(s.certFile)
	ks, err2 := stampOf(s.keyFile)
	if err := errors.Join(err1, err2); err != nil {
		return fmt.Errorf("ntske: certificate: %w", err)
	}
	c, err := tls.LoadX509KeyPair(s.certFile, s.keyFile)
	if err != nil {
		return fmt.Errorf("ntske: certificate %s, key %s: %w", s.certFile, s.keyFile, err)
	}
	s.cert, s.stamp = &c, [2]fileStamp{cs, ks}
	return nil
}

// get returns the current certificate, reloading it first if the files changed.
func (s *certStore) get(now time.Time) *tls.Certificate {
	s.mu.Lock()
	defer s.mu.Unlock()
	if now.Sub(s.lastCheck) >= s.checkEvery {
		s.lastCheck = now
		cs, err1 := stampOf(s.certFile)
		ks, err2 := stampOf(s.keyFile)
		if err1 == nil && err2 == nil && [2]fileStamp{cs, ks} != s.stamp {
			s.lastErr = s.load()
		}
	}
	return s.cert
}

// CertInfo describes the certificate being served, for /api/nts: clients pin the fingerprint or the PEM.
type CertInfo struct {
	PEM         []byte   // the leaf certificate
	SHA256      [32]byte // of the leaf's DER encoding
	DNSNames    []string
	IPAddresses []netip.Addr
	NotAfter    time.Time
	ReloadError error // the last failed reload, if the files changed into something unusable
}

func (s *certStore) info() CertInfo {
	s.mu.Lock()
	defer s.mu.Unlock()
	leaf := s.cert.Leaf
	ci := CertInfo{
		PEM:         pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: s.cert.Certificate[0]}),
		SHA256:      sha256.Sum256(s.cert.Certificate[0]),
		ReloadError: s.lastErr,
	}
	if leaf != nil {
		ci.DNSNames = slices.Clone(leaf.DNSNames)
		ci.NotAfter = leaf.NotAfter
		for _, ip := range leaf.IPAddresses {
			if a, ok := netip.AddrFromSlice(ip); ok {
				ci.IPAddresses = append(ci.IPAddresses, a.Unmap())
			}
		}
	}
	return ci
}
