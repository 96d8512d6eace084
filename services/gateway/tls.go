package gateway

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"
)

// certReloader serves a certificate from files and picks up renewed ones (cert-manager
// rewrites the Secret) without a restart: it re-reads the files when their
// modification time changes, checked at most every few seconds.
type certReloader struct {
	certFile, keyFile string

	mu      sync.Mutex
	cert    *tls.Certificate
	modTime time.Time
	checked time.Time
}

func newCertReloader(certFile, keyFile string) (*certReloader, error) {
	r := &certReloader{certFile: certFile, keyFile: keyFile}
	if err := r.load(); err != nil {
		return nil, err
	}
	return r, nil
}

func (r *certReloader) load() error {
	cert, err := tls.LoadX509KeyPair(r.certFile, r.keyFile)
	if err != nil {
		return fmt.Errorf("tls: load %s: %w", r.certFile, err)
	}
	st, err := os.Stat(r.certFile)
	if err != nil {
		return err
	}
	r.cert, r.modTime = &cert, st.ModTime()
	return nil
}

func (r *certReloader) get(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if time.Since(r.checked) > 5*time.Second {
		r.checked = time.Now()
		if st, err := os.Stat(r.certFile); err == nil && !st.ModTime().Equal(r.modTime) {
			// A half-written pair fails to load; the old certificate serves meanwhile.
			_ = r.load()
		}
	}
	return r.cert, nil
}

// serverTLS is the listeners' TLS configuration, or nil without a certificate.
func serverTLS(cfg Config) (*tls.Config, error) {
	if cfg.TLSCertFile == "" && cfg.TLSKeyFile == "" {
		return nil, nil
	}
	if cfg.TLSCertFile == "" || cfg.TLSKeyFile == "" {
		return nil, errors.New("tls: set both --tls-cert-file and --tls-key-file")
	}
	r, err := newCertReloader(cfg.TLSCertFile, cfg.TLSKeyFile)
	if err != nil {
		return nil, err
	}
	return &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: r.get, NextProtos: []string{"h2", "http/1.1"}}, nil
}

// backendTLS is the TLS configuration of the connections to the services (mTLS with a
// client certificate), or nil for plaintext.
func backendTLS(cfg Config) (*tls.Config, error) {
	if !cfg.BackendTLS && cfg.BackendCAFile == "" && cfg.BackendCertFile == "" {
		return nil, nil
	}
	t := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: cfg.BackendServerName}
	if cfg.BackendCAFile != "" {
		pem, err := os.ReadFile(cfg.BackendCAFile)
		if err != nil {
			return nil, fmt.Errorf("backend tls: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("backend tls: no certificate in %s", cfg.BackendCAFile)
		}
		t.RootCAs = pool
	}
	if cfg.BackendCertFile != "" || cfg.BackendKeyFile != "" {
		cert, err := tls.LoadX509KeyPair(cfg.BackendCertFile, cfg.BackendKeyFile)
		if err != nil {
			return nil, fmt.Errorf("backend tls: client certificate: %w", err)
		}
		t.Certificates = []tls.Certificate{cert}
	}
	return t, nil
}
