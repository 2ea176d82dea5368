package ntske

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"

	"github.com/gpsntp/gpsntp/ntpserve/nts"
)

// Session is what a client holds after NTS-KE: the keys, the cookies, and where to send NTP.
type Session struct {
	nts.KEResponse
	Keys nts.SessionKeys
}

// Exchange runs NTS-KE as a client against addr (host:port): TLS 1.3 with ALPN ntske/1, a request
// offering aeads in order (with chrony's record 1024 when AES-128-GCM-SIV is offered), and the keys
// exported as the server will have exported them. tlsCfg supplies trust (RootCAs) and ServerName; it is
// cloned, not modified.
func Exchange(ctx context.Context, addr string, tlsCfg *tls.Config, aeads []nts.AlgorithmID) (*Session, error) {
	cfg := tlsCfg.Clone()
	if cfg == nil {
		cfg = &tls.Config{}
	}
	cfg.MinVersion, cfg.NextProtos = tls.VersionTLS13, []string{nts.ALPN}
	d := tls.Dialer{Config: cfg, NetDialer: &net.Dialer{}}
	nc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("ntske.Exchange(%s): %w", addr, err)
	}
	defer nc.Close()
	tc := nc.(*tls.Conn)
	if dl, ok := ctx.Deadline(); ok {
		tc.SetDeadline(dl)
	}
	if p := tc.ConnectionState().NegotiatedProtocol; p != nts.ALPN {
		return nil, fmt.Errorf("ntske.Exchange(%s): server chose ALPN %q", addr, p)
	}
	if _, err := tc.Write(nts.AppendKERequest(nil, aeads, true)); err != nil {
		return nil, fmt.Errorf("ntske.Exchange(%s): write: %w", addr, err)
	}
	_, recs, err := nts.ReadMessage(tc)
	if err != nil {
		return nil, fmt.Errorf("ntske.Exchange(%s): %w", addr, err)
	}
	r, err := nts.ParseKEResponse(recs, aeads)
	if err != nil {
		return nil, fmt.Errorf("ntske.Exchange(%s): %w", addr, err)
	}
	cs := tc.ConnectionState()
	keys, err := nts.ExportKeys(r.Negotiation(), cs.ExportKeyingMaterial)
	if err != nil {
		return nil, fmt.Errorf("ntske.Exchange(%s): %w", addr, err)
	}
	return &Session{KEResponse: r, Keys: keys}, nil
}
