package gateway

import (
	"crypto/tls"
	"fmt"

	"go.uber.org/zap"

	"github.com/guarantor/guarantor/platform/tlsfiles"
)

// backendTLS is the TLS configuration of the connections to the services (mutual TLS
// when a client certificate is set, re-read when it is renewed), or nil for plaintext.
func backendTLS(cfg Config, log *zap.Logger) (*tls.Config, error) {
	c, err := tlsfiles.Client(tlsfiles.ClientFiles{
		Enable:     cfg.BackendTLS,
		CAFile:     cfg.BackendCAFile,
		CertFile:   cfg.BackendCertFile,
		KeyFile:    cfg.BackendKeyFile,
		ServerName: cfg.BackendServerName,
	}, log)
	if err != nil {
		return nil, fmt.Errorf("gateway: --backend-ca-file, --backend-cert-file, --backend-key-file: %w", err)
	}
	return c, nil
}

// httpTLS is the HTTP listener's TLS configuration: the gRPC listener's (the same
// certificate, reloaded the same way, and the same client CAs), offering HTTP/1.1
// besides HTTP/2, since tls.NewListener negotiates only what NextProtos lists. nil for
// plaintext.
func httpTLS(grpcTLS *tls.Config) *tls.Config {
	if grpcTLS == nil {
		return nil
	}
	c := grpcTLS.Clone()
	c.NextProtos = []string{"h2", "http/1.1"}
	return c
}
