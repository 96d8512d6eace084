// Package certtest makes throwaway certificate authorities and certificates for tests:
// ECDSA P-256 keys, valid for a day, written as PEM files into the test's temporary
// directory the way Kubernetes mounts a TLS Secret (ca.crt, tls.crt, tls.key). Nothing
// is committed: every test run makes its own.
package certtest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// CA is a certificate authority.
type CA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	// File is the CA certificate in PEM (ca.crt), the bundle peers verify against.
	File string
	// Pool holds the CA certificate, for in-memory TLS configurations.
	Pool *x509.CertPool
}

// KeyPair is an issued certificate's files.
type KeyPair struct {
	CertFile, KeyFile string
}

// NewCA makes a self-signed CA named name.
func NewCA(t testing.TB, name string) *CA {
	t.Helper()
	key := newKey(t)
	tmpl := &x509.Certificate{
		SerialNumber:          serial(t),
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, cert := create(t, tmpl, tmpl, &key.PublicKey, key)
	ca := &CA{cert: cert, key: key, File: filepath.Join(t.TempDir(), "ca.crt"), Pool: x509.NewCertPool()}
	ca.Pool.AddCert(cert)
	writeFile(t, ca.File, pemBlock("CERTIFICATE", der))
	return ca
}

// Server issues a server certificate for hosts (DNS names or IP addresses) into a new
// directory.
func (ca *CA) Server(t testing.TB, hosts ...string) KeyPair {
	t.Helper()
	kp := newPairFiles(t)
	ca.ServerAt(t, kp, hosts...)
	return kp
}

// ServerAt issues a server certificate for hosts into kp's files, replacing them (each
// by a rename, as the kubelet swaps a Secret's files).
func (ca *CA) ServerAt(t testing.TB, kp KeyPair, hosts ...string) {
	t.Helper()
	ca.hostCert(t, kp, leafTemplate(t, hosts[0], x509.ExtKeyUsageServerAuth), hosts)
}

// Peer issues a certificate for hosts valid both as server and as client, as the nodes
// of a cluster present to each other (NATS routes), into a new directory.
func (ca *CA) Peer(t testing.TB, hosts ...string) KeyPair {
	t.Helper()
	kp := newPairFiles(t)
	tmpl := leafTemplate(t, hosts[0], x509.ExtKeyUsageServerAuth)
	tmpl.ExtKeyUsage = append(tmpl.ExtKeyUsage, x509.ExtKeyUsageClientAuth)
	ca.hostCert(t, kp, tmpl, hosts)
	return kp
}

func (ca *CA) hostCert(t testing.TB, kp KeyPair, tmpl *x509.Certificate, hosts []string) {
	t.Helper()
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	ca.issue(t, tmpl, kp)
}

// Client issues a client certificate (for mutual TLS) named commonName into a new
// directory.
func (ca *CA) Client(t testing.TB, commonName string) KeyPair {
	t.Helper()
	kp := newPairFiles(t)
	ca.issue(t, leafTemplate(t, commonName, x509.ExtKeyUsageClientAuth), kp)
	return kp
}

// Certificate loads the pair, for in-memory TLS configurations.
func (kp KeyPair) Certificate(t testing.TB) tls.Certificate {
	t.Helper()
	c, err := tls.LoadX509KeyPair(kp.CertFile, kp.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// ClientTLS is a client configuration trusting ca, presenting client when it is not
// nil.
func ClientTLS(t testing.TB, ca *CA, client *KeyPair) *tls.Config {
	t.Helper()
	c := &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: ca.Pool}
	if client != nil {
		c.Certificates = []tls.Certificate{client.Certificate(t)}
	}
	return c
}

// Sign issues a certificate made from tmpl (its names and usages, for a key of its
// own) signed by the CA, for tests that look at a certificate rather than serve with it.
func (ca *CA) Sign(t testing.TB, tmpl *x509.Certificate) *x509.Certificate {
	t.Helper()
	key := newKey(t)
	_, cert := create(t, tmpl, ca.cert, &key.PublicKey, ca.key)
	return cert
}

// create signs tmpl with signer as parent and returns the certificate, DER and parsed.
func create(t testing.TB, tmpl, parent *x509.Certificate, pub *ecdsa.PublicKey, signer *ecdsa.PrivateKey) ([]byte, *x509.Certificate) {
	t.Helper()
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, signer)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return der, cert
}

func (ca *CA) issue(t testing.TB, tmpl *x509.Certificate, kp KeyPair) {
	t.Helper()
	key := newKey(t)
	der, _ := create(t, tmpl, ca.cert, &key.PublicKey, ca.key)
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, kp.CertFile, pemBlock("CERTIFICATE", der))
	writeFile(t, kp.KeyFile, pemBlock("PRIVATE KEY", keyDER))
}

func leafTemplate(t testing.TB, commonName string, usage x509.ExtKeyUsage) *x509.Certificate {
	t.Helper()
	return &x509.Certificate{
		SerialNumber: serial(t),
		Subject:      pkix.Name{CommonName: commonName},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{usage},
	}
}

func newPairFiles(t testing.TB) KeyPair {
	t.Helper()
	dir := t.TempDir()
	return KeyPair{CertFile: filepath.Join(dir, "tls.crt"), KeyFile: filepath.Join(dir, "tls.key")}
}

func newKey(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return key
}

func serial(t testing.TB) *big.Int {
	t.Helper()
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func pemBlock(typ string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}

// writeFile replaces path by a rename, so a reader never sees half a file.
func writeFile(t testing.TB, path string, data []byte) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}
