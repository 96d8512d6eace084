package tlsfiles_test

import (
	"context"
	"crypto/tls"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/guarantor/guarantor/platform/testkit/certtest"
	"github.com/guarantor/guarantor/platform/tlsfiles"
)

func TestServerAndClientErrors(t *testing.T) {
	t.Parallel()
	ca := certtest.NewCA(t, "test CA")
	a := ca.Server(t, "localhost")
	b := ca.Server(t, "localhost")
	missing := filepath.Join(t.TempDir(), "missing.crt")
	notPEM := filepath.Join(t.TempDir(), "ca.crt")
	if err := os.WriteFile(notPEM, []byte("not a certificate\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		server  *tlsfiles.ServerFiles
		client  *tlsfiles.ClientFiles
		wantErr string // "" = no error
	}{
		{name: "server: certificate without key", server: &tlsfiles.ServerFiles{CertFile: a.CertFile}, wantErr: "both a certificate file and a key file"},
		{name: "server: client CA alone", server: &tlsfiles.ServerFiles{ClientCAFile: ca.File}, wantErr: "both a certificate file and a key file"},
		{name: "server: missing certificate", server: &tlsfiles.ServerFiles{CertFile: missing, KeyFile: a.KeyFile}, wantErr: "certificate file: stat " + missing},
		{name: "server: missing key", server: &tlsfiles.ServerFiles{CertFile: a.CertFile, KeyFile: missing}, wantErr: "key file: stat " + missing},
		{name: "server: key of another certificate", server: &tlsfiles.ServerFiles{CertFile: a.CertFile, KeyFile: b.KeyFile}, wantErr: "private key does not match public key"},
		{name: "server: client CA missing", server: &tlsfiles.ServerFiles{CertFile: a.CertFile, KeyFile: a.KeyFile, ClientCAFile: missing}, wantErr: "client CA: open " + missing},
		{name: "server: client CA without a certificate", server: &tlsfiles.ServerFiles{CertFile: a.CertFile, KeyFile: a.KeyFile, ClientCAFile: notPEM}, wantErr: "no PEM certificate in " + notPEM},
		{name: "server: mutual TLS", server: &tlsfiles.ServerFiles{CertFile: a.CertFile, KeyFile: a.KeyFile, ClientCAFile: ca.File}},
		{name: "client: CA without a certificate", client: &tlsfiles.ClientFiles{CAFile: notPEM}, wantErr: "CA: no PEM certificate"},
		{name: "client: key of another certificate", client: &tlsfiles.ClientFiles{CertFile: a.CertFile, KeyFile: b.KeyFile}, wantErr: "client certificate: certificate " + a.CertFile},
		{name: "client: certificate without key", client: &tlsfiles.ClientFiles{CertFile: a.CertFile}, wantErr: "needs its key file"},
		{name: "client: mutual TLS", client: &tlsfiles.ClientFiles{CAFile: ca.File, CertFile: a.CertFile, KeyFile: a.KeyFile}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var (
				cfg *tls.Config
				err error
			)
			if tt.server != nil {
				cfg, err = tlsfiles.Server(*tt.server, nil)
			} else {
				cfg, err = tlsfiles.Client(*tt.client, nil)
			}
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("error %v", err)
			case tt.wantErr == "" && cfg == nil:
				t.Fatal("no configuration")
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("error %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestPlaintextWhenNothingIsSet(t *testing.T) {
	t.Parallel()
	if c, err := tlsfiles.Server(tlsfiles.ServerFiles{}, nil); c != nil || err != nil {
		t.Errorf("Server() = %v, %v; want nil, nil", c, err)
	}
	if c, err := tlsfiles.Client(tlsfiles.ClientFiles{}, nil); c != nil || err != nil {
		t.Errorf("Client() = %v, %v; want nil, nil", c, err)
	}
	c, err := tlsfiles.Client(tlsfiles.ClientFiles{Enable: true}, nil)
	if err != nil || c == nil || c.RootCAs != nil {
		t.Errorf("Client(Enable) = %v, %v; want TLS with the system roots", c, err)
	}
}

// TestKeyPairReload: a renewed pair is served once the check is due; a change that does
// not load (the certificate renewed, its key not yet) keeps the previous pair until the
// key arrives.
func TestKeyPairReload(t *testing.T) {
	t.Parallel()
	ca := certtest.NewCA(t, "test CA")
	tests := []struct {
		name     string
		interval time.Duration
		// change replaces files of kp and reports whether the pair served afterwards
		// should be a new one.
		change func(t *testing.T, kp certtest.KeyPair) (wantNew bool)
	}{
		{"renewed pair", 0, func(t *testing.T, kp certtest.KeyPair) bool {
			ca.ServerAt(t, kp, "localhost")
			return true
		}},
		{"renewed pair, check not due yet", time.Hour, func(t *testing.T, kp certtest.KeyPair) bool {
			ca.ServerAt(t, kp, "localhost")
			return false
		}},
		{"certificate renewed without its key", 0, func(t *testing.T, kp certtest.KeyPair) bool {
			other := ca.Server(t, "localhost")
			copyFile(t, other.CertFile, kp.CertFile)
			return false
		}},
		{"files gone", 0, func(t *testing.T, kp certtest.KeyPair) bool {
			if err := os.Remove(kp.CertFile); err != nil {
				t.Fatal(err)
			}
			return false
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			kp := ca.Server(t, "localhost")
			pair, err := tlsfiles.LoadKeyPair(kp.CertFile, kp.KeyFile, nil)
			if err != nil {
				t.Fatal(err)
			}
			pair.SetCheckInterval(tt.interval)
			before := serialOf(t, pair)
			wantNew := tt.change(t, kp)
			laterModTime(t, kp)
			after := serialOf(t, pair)
			if changed := after != before; changed != wantNew {
				t.Fatalf("certificate changed = %v, want %v", changed, wantNew)
			}
		})
	}

	t.Run("key arrives after its certificate", func(t *testing.T) {
		t.Parallel()
		kp := ca.Server(t, "localhost")
		pair, err := tlsfiles.LoadKeyPair(kp.CertFile, kp.KeyFile, nil)
		if err != nil {
			t.Fatal(err)
		}
		pair.SetCheckInterval(0)
		before := serialOf(t, pair)
		renewed := ca.Server(t, "localhost")
		copyFile(t, renewed.CertFile, kp.CertFile)
		laterModTime(t, kp)
		if serialOf(t, pair) != before {
			t.Fatal("a certificate without its key was served")
		}
		copyFile(t, renewed.KeyFile, kp.KeyFile)
		laterModTime(t, kp)
		if got, want := serialOf(t, pair), serialOfFile(t, renewed); got != want {
			t.Fatalf("serial %s, want the renewed %s", got, want)
		}
	})
}

// TestMutualTLSHandshake: a server from Server requires a client certificate from its
// client CA; a client from Client presents its own and checks the server's.
func TestMutualTLSHandshake(t *testing.T) {
	t.Parallel()
	ca := certtest.NewCA(t, "test CA")
	other := certtest.NewCA(t, "another CA")
	srv := ca.Server(t, "events")
	server, err := tlsfiles.Server(tlsfiles.ServerFiles{CertFile: srv.CertFile, KeyFile: srv.KeyFile, ClientCAFile: ca.File}, nil)
	if err != nil {
		t.Fatal(err)
	}
	good, foreign := ca.Client(t, "gateway"), other.Client(t, "gateway")
	tests := []struct {
		name   string
		client tlsfiles.ClientFiles
		ok     bool
	}{
		{"client certificate from the CA", tlsfiles.ClientFiles{CAFile: ca.File, CertFile: good.CertFile, KeyFile: good.KeyFile, ServerName: "events"}, true},
		{"no client certificate", tlsfiles.ClientFiles{CAFile: ca.File, ServerName: "events"}, false},
		{"client certificate from another CA", tlsfiles.ClientFiles{CAFile: ca.File, CertFile: foreign.CertFile, KeyFile: foreign.KeyFile, ServerName: "events"}, false},
		{"server name not in the certificate", tlsfiles.ClientFiles{CAFile: ca.File, CertFile: good.CertFile, KeyFile: good.KeyFile, ServerName: "guarantees"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			client, err := tlsfiles.Client(tt.client, nil)
			if err != nil {
				t.Fatal(err)
			}
			err = handshake(t, server, client)
			if (err == nil) != tt.ok {
				t.Fatalf("handshake error %v, want success %v", err, tt.ok)
			}
		})
	}
}

// handshake runs both sides over a loopback connection (buffered, unlike net.Pipe, so a
// side failing mid-flight cannot deadlock the other) and returns the first error of
// either: the client's certificate is checked by the server after the client may think
// it is done.
func handshake(t *testing.T, server, client *tls.Config) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer lis.Close()
	errc := make(chan error, 1)
	go func() {
		sc, err := lis.Accept()
		if err != nil {
			errc <- err
			return
		}
		defer sc.Close()
		errc <- tls.Server(sc, server).HandshakeContext(ctx)
	}()
	cc, err := net.Dial("tcp", lis.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	clientErr := tls.Client(cc, client).HandshakeContext(ctx)
	if clientErr != nil {
		_ = cc.Close() // the server stops waiting for the client's finish
	}
	serverErr := <-errc
	if clientErr != nil {
		return clientErr
	}
	return serverErr
}

func serialOf(t *testing.T, k *tlsfiles.KeyPair) string {
	t.Helper()
	c := k.Certificate()
	if c == nil || c.Leaf == nil {
		t.Fatal("no certificate")
	}
	return c.Leaf.SerialNumber.String()
}

func serialOfFile(t *testing.T, kp certtest.KeyPair) string {
	t.Helper()
	c := kp.Certificate(t)
	return c.Leaf.SerialNumber.String()
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	data, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

// laterModTime moves the pair's modification times a second forward: files written
// within one tick of the file system's clock may otherwise keep the same time.
func laterModTime(t *testing.T, kp certtest.KeyPair) {
	t.Helper()
	for _, f := range []string{kp.CertFile, kp.KeyFile} {
		st, err := os.Stat(f)
		if os.IsNotExist(err) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		later := st.ModTime().Add(time.Second)
		if err := os.Chtimes(f, later, later); err != nil {
			t.Fatal(err)
		}
	}
}
