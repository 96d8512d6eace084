// Package tlsfiles builds the TLS configurations of Guarantor's listeners and of its
// connections between services from PEM files, as Kubernetes mounts them from Secrets.
//
// Certificates are short-lived and renewed in place (cert-manager rewrites the Secret,
// the kubelet swaps the mounted files), so a key pair is re-read when its files change,
// without a restart. CA bundles are read once: a new CA is rolled out by restarting,
// after a bundle holding both the old and the new CA has reached every peer.
package tlsfiles

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"go.uber.org/zap"
)

// DefaultCheckInterval is how often, at most, a key pair's files are looked at for a
// change. Renewals happen days ahead of expiry, so seconds of delay cost nothing, and a
// burst of handshakes (every client reconnecting after a rollout) costs no stat calls.
const DefaultCheckInterval = 5 * time.Second

// KeyPair is a certificate and its private key read from two PEM files. It re-reads them
// when either file's modification time changes, checked at most every
// DefaultCheckInterval when a handshake asks for the certificate. A changed pair that
// does not load (half-written, or a certificate without its key yet) is logged and the
// previous pair stays in use, so a bad rotation never takes a listener down; it is tried
// again at the next check.
type KeyPair struct {
	certFile, keyFile string
	log               *zap.Logger
	checkEvery        time.Duration

	mu      sync.Mutex
	cert    *tls.Certificate
	certMod time.Time
	keyMod  time.Time
	checked time.Time
}

// LoadKeyPair reads the pair; it fails if a file is missing or unreadable, or if the key
// is not the certificate's. log may be nil.
func LoadKeyPair(certFile, keyFile string, log *zap.Logger) (*KeyPair, error) {
	if certFile == "" || keyFile == "" {
		return nil, fmt.Errorf("a certificate needs its key file and a key its certificate file (certificate %q, key %q)", certFile, keyFile)
	}
	if log == nil {
		log = zap.NewNop()
	}
	k := &KeyPair{certFile: certFile, keyFile: keyFile, log: log, checkEvery: DefaultCheckInterval}
	cert, certMod, keyMod, err := k.load()
	if err != nil {
		return nil, err
	}
	k.cert, k.certMod, k.keyMod, k.checked = cert, certMod, keyMod, time.Now()
	k.logLoaded("TLS certificate loaded")
	return k, nil
}

// load reads both files. The modification times are taken before reading, so a change
// made while reading is seen again at the next check rather than missed.
func (k *KeyPair) load() (cert *tls.Certificate, certMod, keyMod time.Time, err error) {
	cst, err := os.Stat(k.certFile)
	if err != nil {
		return nil, time.Time{}, time.Time{}, fmt.Errorf("certificate file: %w", err)
	}
	kst, err := os.Stat(k.keyFile)
	if err != nil {
		return nil, time.Time{}, time.Time{}, fmt.Errorf("key file: %w", err)
	}
	c, err := tls.LoadX509KeyPair(k.certFile, k.keyFile)
	if err != nil {
		return nil, time.Time{}, time.Time{}, fmt.Errorf("certificate %s with key %s: %w", k.certFile, k.keyFile, err)
	}
	return &c, cst.ModTime(), kst.ModTime(), nil
}

func (k *KeyPair) logLoaded(msg string) {
	fields := []zap.Field{zap.String("cert_file", k.certFile)}
	if leaf := k.cert.Leaf; leaf != nil {
		fields = append(fields, zap.String("subject", leaf.Subject.String()), zap.Time("not_after", leaf.NotAfter))
	}
	k.log.Info(msg, fields...)
}

// Certificate returns the current certificate, re-reading the files first if the check
// is due and they changed.
func (k *KeyPair) Certificate() *tls.Certificate {
	k.mu.Lock()
	defer k.mu.Unlock()
	now := time.Now()
	if now.Sub(k.checked) < k.checkEvery {
		return k.cert
	}
	k.checked = now
	cst, err1 := os.Stat(k.certFile)
	kst, err2 := os.Stat(k.keyFile)
	if err1 != nil || err2 != nil {
		// Mid-swap, or the mount is gone: the pair in memory is still good.
		return k.cert
	}
	if cst.ModTime().Equal(k.certMod) && kst.ModTime().Equal(k.keyMod) {
		return k.cert
	}
	cert, certMod, keyMod, err := k.load()
	if err != nil {
		k.log.Warn("TLS key pair changed but does not load; still serving the previous certificate", zap.Error(err))
		return k.cert
	}
	k.cert, k.certMod, k.keyMod = cert, certMod, keyMod
	k.logLoaded("TLS certificate reloaded")
	return k.cert
}

// GetCertificate is for tls.Config.GetCertificate (servers).
func (k *KeyPair) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	return k.Certificate(), nil
}

// GetClientCertificate is for tls.Config.GetClientCertificate (clients presenting a
// certificate for mutual TLS).
func (k *KeyPair) GetClientCertificate(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
	return k.Certificate(), nil
}

// ServerFiles are the files of a TLS listener.
type ServerFiles struct {
	// CertFile and KeyFile are the listener's certificate (with any intermediates after
	// it) and private key.
	CertFile, KeyFile string
	// ClientCAFile, when set, turns on mutual TLS: every client must present a
	// certificate signed by a CA in this bundle, or the handshake fails.
	ClientCAFile string
}

// Server returns the TLS configuration of a listener, or nil when no file is set
// (plaintext). TLS 1.3 is negotiated with every peer that has it; 1.2 is the floor, for
// older clients of the gateway.
func Server(f ServerFiles, log *zap.Logger) (*tls.Config, error) {
	if f.CertFile == "" && f.KeyFile == "" && f.ClientCAFile == "" {
		return nil, nil
	}
	if f.CertFile == "" || f.KeyFile == "" {
		return nil, fmt.Errorf("TLS needs both a certificate file and a key file (certificate %q, key %q, client CA %q)", f.CertFile, f.KeyFile, f.ClientCAFile)
	}
	kp, err := LoadKeyPair(f.CertFile, f.KeyFile, log)
	if err != nil {
		return nil, err
	}
	c := &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: kp.GetCertificate}
	if f.ClientCAFile != "" {
		pool, err := LoadCAs(f.ClientCAFile)
		if err != nil {
			return nil, fmt.Errorf("client CA: %w", err)
		}
		c.ClientCAs = pool
		c.ClientAuth = tls.RequireAndVerifyClientCert
	}
	return c, nil
}

// ClientFiles are the files of a TLS client.
type ClientFiles struct {
	// Enable turns TLS on with the system's CA bundle and no client certificate; any
	// other field turns it on too.
	Enable bool
	// CAFile is the bundle the server's certificate is checked against; empty uses the
	// system's.
	CAFile string
	// CertFile and KeyFile are the certificate presented to the server (mutual TLS).
	CertFile, KeyFile string
	// ServerName is the name expected in the server's certificate; empty uses the host
	// of the address dialled.
	ServerName string
}

// Client returns the TLS configuration of a client, or nil when TLS is off (plaintext).
func Client(f ClientFiles, log *zap.Logger) (*tls.Config, error) {
	if !f.Enable && f.CAFile == "" && f.CertFile == "" && f.KeyFile == "" && f.ServerName == "" {
		return nil, nil
	}
	c := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: f.ServerName}
	if f.CAFile != "" {
		pool, err := LoadCAs(f.CAFile)
		if err != nil {
			return nil, fmt.Errorf("CA: %w", err)
		}
		c.RootCAs = pool
	}
	if f.CertFile != "" || f.KeyFile != "" {
		kp, err := LoadKeyPair(f.CertFile, f.KeyFile, log)
		if err != nil {
			return nil, fmt.Errorf("client certificate: %w", err)
		}
		c.GetClientCertificate = kp.GetClientCertificate
	}
	return c, nil
}

// LoadCAs reads a PEM bundle of CA certificates; a file without any is an error (a
// typo'd Secret key would otherwise trust nobody and fail every handshake obscurely).
func LoadCAs(file string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, errors.New("no PEM certificate in " + file)
	}
	return pool, nil
}
