package manifest_test

import (
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	natsserver "github.com/nats-io/nats-server/v2/server"
	"sigs.k8s.io/yaml"

	"github.com/guarantor/guarantor/deploy/manifest"
	"github.com/guarantor/guarantor/platform/testkit/certtest"
)

// certNeed is what one internal certificate (a Secret of docs/operations.md, "The
// internal certificates") must do in the prod build: the names its clients dial, and
// the uses it is put to.
type certNeed struct {
	names  []string // host names (or addresses) the certificate must be valid for
	server bool     // presented by a server
	client bool     // presented by a client
}

// certNeeds reads, from the prod build, who dials what: every NATS client's
// GUARANTOR_NATS_URL and the NATS nodes' routes (the nodes are each other's clients);
// the gateway's backend addresses; the gateway's client certificate.
func certNeeds(t *testing.T) map[string]*certNeed {
	t.Helper()
	t.Setenv("POD_NAME", "nats-0")
	set := build(t, targetNamed(t, "prod"))
	needs := map[string]*certNeed{
		"nats-tls":            {server: true, client: true, names: []string{"127.0.0.1"}}, // the operators' port-forward
		"events-tls":          {server: true},
		"guarantees-tls":      {server: true},
		"gateway-backend-tls": {client: true},
	}
	add := func(secret, host string) {
		for _, n := range needs[secret].names {
			if n == host {
				return
			}
		}
		needs[secret].names = append(needs[secret].names, host)
	}
	for _, w := range set.Workloads() {
		for _, c := range w.Pod.Spec.Containers {
			env, err := set.ResolveEnv(w.Namespace, c)
			if err != nil {
				t.Fatal(err)
			}
			if v := env["GUARANTOR_NATS_URL"].Value; v != "" {
				for _, raw := range strings.Split(v, ",") {
					u, err := url.Parse(strings.TrimSpace(raw))
					if err != nil {
						t.Fatalf("%s: GUARANTOR_NATS_URL %q: %v", w.ID(), v, err)
					}
					add("nats-tls", u.Hostname())
				}
			}
			for key, secret := range map[string]string{"GUARANTOR_EVENTS_ADDR": "events-tls", "GUARANTOR_GUARANTEES_ADDR": "guarantees-tls"} {
				if v := env[key].Value; v != "" {
					host, _, err := net.SplitHostPort(strings.TrimPrefix(v, "dns:///"))
					if err != nil {
						t.Fatalf("%s: %s %q: %v", w.ID(), key, v, err)
					}
					add(secret, host)
				}
			}
		}
	}
	opts, err := natsserver.ProcessConfigFile(natsConfig(t, set, natsStatefulSet(t, set)))
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range opts.Routes {
		add("nats-tls", r.Hostname())
	}
	for name, n := range needs {
		if n.server && len(n.names) == 0 {
			t.Fatalf("nothing in the prod build dials the server of %s: the check would check nothing", name)
		}
	}
	for name, n := range needs {
		t.Logf("%s: server %v, client %v, names %v", name, n.server, n.client, n.names)
	}
	if len(needs["nats-tls"].names) < 3 {
		t.Fatalf("nats-tls: only %v found to check", needs["nats-tls"].names)
	}
	return needs
}

// problems lists what cert (signed by roots) cannot do of what n asks.
func (n *certNeed) problems(cert *x509.Certificate, roots *x509.CertPool) []string {
	var out []string
	for _, use := range []struct {
		want bool
		eku  x509.ExtKeyUsage
		name string
	}{{n.server, x509.ExtKeyUsageServerAuth, "server"}, {n.client, x509.ExtKeyUsageClientAuth, "client"}} {
		if !use.want {
			continue
		}
		if _, err := cert.Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{use.eku}}); err != nil {
			out = append(out, fmt.Sprintf("not valid as a %s certificate: %v", use.name, err))
		}
	}
	for _, host := range n.names {
		if err := cert.VerifyHostname(host); err != nil {
			out = append(out, err.Error())
		}
	}
	return out
}

// docBlock returns the fenced block of docs/operations.md (```lang) that contains marker.
func docBlock(t *testing.T, lang, marker string) string {
	t.Helper()
	ops, err := os.ReadFile(filepath.Join(repoRoot(t), "docs", "operations.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, block := range regexp.MustCompile("(?s)```"+lang+"\n(.*?)```").FindAllStringSubmatch(string(ops), -1) {
		if strings.Contains(block[1], marker) {
			return block[1]
		}
	}
	t.Fatalf("docs/operations.md has no ```%s block with %q", lang, marker)
	return ""
}

// TestDocumentedOpenSSLCertificates runs the OpenSSL recipe of docs/operations.md as it
// is written (kubectl recorded, not run) and checks that each Secret it creates holds a
// certificate, signed by its CA, valid for every name the prod build dials and for the
// uses the build puts it to: NATS's client URL and its nodes' routes, the gateway's
// backend addresses, the gateway's client authentication.
func TestDocumentedOpenSSLCertificates(t *testing.T) {
	if _, err := exec.LookPath("openssl"); err != nil {
		t.Skip("no openssl on this machine")
	}
	needs := certNeeds(t)
	dir := t.TempDir()
	log := filepath.Join(dir, "kubectl.log")
	fake := filepath.Join(dir, "bin", "kubectl")
	if err := os.MkdirAll(filepath.Dir(fake), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(fake, []byte("#!/bin/sh\nprintf '%s\\n' \"$*\" >> \"$KUBECTL_LOG\"\n"), 0o700); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("bash", "-euo", "pipefail", "-c", docBlock(t, "sh", "issue()"))
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "PATH="+filepath.Dir(fake)+string(os.PathListSeparator)+os.Getenv("PATH"), "KUBECTL_LOG="+log)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("the recipe fails: %v\n%s", err, out)
	}
	calls, err := os.ReadFile(log)
	if err != nil {
		t.Fatal(err)
	}
	made := map[string]map[string]string{} // Secret → key → file
	for _, line := range strings.Split(strings.TrimSpace(string(calls)), "\n") {
		args := strings.Fields(line)
		i := indexOf(args, "generic")
		if i < 0 || i+1 >= len(args) {
			t.Fatalf("kubectl %s: not a generic Secret", line)
		}
		files := map[string]string{}
		for _, a := range args[i+2:] {
			if spec, ok := strings.CutPrefix(a, "--from-file="); ok {
				key, file, found := strings.Cut(spec, "=")
				if !found {
					key, file = filepath.Base(spec), spec
				}
				files[key] = filepath.Join(dir, file)
			}
		}
		made[args[i+1]] = files
	}
	for secret, need := range needs {
		t.Run(secret, func(t *testing.T) {
			files, ok := made[secret]
			if !ok {
				t.Fatalf("the recipe creates no Secret %s", secret)
			}
			for _, key := range []string{"ca.crt", "tls.crt", "tls.key"} {
				if _, ok := files[key]; !ok {
					t.Fatalf("Secret %s has no key %s", secret, key)
				}
			}
			roots := x509.NewCertPool()
			ca, err := os.ReadFile(files["ca.crt"])
			if err != nil || !roots.AppendCertsFromPEM(ca) {
				t.Fatalf("ca.crt: %v", err)
			}
			for _, p := range need.problems(readCert(t, files["tls.crt"]), roots) {
				t.Error(p)
			}
		})
	}
}

func indexOf(s []string, v string) int {
	for i, x := range s {
		if x == v {
			return i
		}
	}
	return -1
}

func readCert(t *testing.T, file string) *x509.Certificate {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(b)
	if block == nil {
		t.Fatalf("%s holds no PEM block", file)
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

// TestDocumentedCertManagerCertificates reads the cert-manager Certificates of
// docs/operations.md and checks the same as TestDocumentedOpenSSLCertificates of what
// they would issue: their DNS names and addresses, matched as Go's TLS clients match
// them, and their usages. The guarantees certificate is documented as "the same for
// guarantees": the events one with the service's name.
func TestDocumentedCertManagerCertificates(t *testing.T) {
	needs := certNeeds(t)
	type spec struct {
		SecretName  string   `json:"secretName"`
		DNSNames    []string `json:"dnsNames"`
		IPAddresses []string `json:"ipAddresses"`
		Usages      []string `json:"usages"`
	}
	certs := map[string]spec{}
	for _, doc := range manifest.SplitDocuments([]byte(docBlock(t, "yaml", "kind: Certificate"))) {
		var o struct {
			Kind string `json:"kind"`
			Spec spec   `json:"spec"`
		}
		// Other fields (duration, issuerRef...) are not this test's business.
		if err := yaml.Unmarshal(doc, &o); err != nil {
			t.Fatalf("a document of the cert-manager block: %v", err)
		}
		if o.Kind == "Certificate" && o.Spec.SecretName != "" {
			certs[o.Spec.SecretName] = o.Spec
		}
	}
	if ev, ok := certs["events-tls"]; ok {
		if _, ok := certs["guarantees-tls"]; !ok {
			g := spec{SecretName: "guarantees-tls", IPAddresses: ev.IPAddresses, Usages: ev.Usages}
			for _, n := range ev.DNSNames {
				g.DNSNames = append(g.DNSNames, strings.ReplaceAll(n, "events", "guarantees"))
			}
			certs["guarantees-tls"] = g
		}
	}
	for secret, need := range needs {
		t.Run(secret, func(t *testing.T) {
			c, ok := certs[secret]
			if !ok {
				t.Fatalf("no documented Certificate writes the Secret %s", secret)
			}
			tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), DNSNames: c.DNSNames,
				NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
			for _, ip := range c.IPAddresses {
				tmpl.IPAddresses = append(tmpl.IPAddresses, net.ParseIP(ip))
			}
			for _, u := range c.Usages {
				switch u {
				case "server auth":
					tmpl.ExtKeyUsage = append(tmpl.ExtKeyUsage, x509.ExtKeyUsageServerAuth)
				case "client auth":
					tmpl.ExtKeyUsage = append(tmpl.ExtKeyUsage, x509.ExtKeyUsageClientAuth)
				}
			}
			ca := certtest.NewCA(t, "cert-manager's issuer")
			for _, p := range need.problems(ca.Sign(t, tmpl), ca.Pool) {
				t.Error(p)
			}
		})
	}
}
