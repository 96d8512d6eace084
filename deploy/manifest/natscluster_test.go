package manifest_test

import (
	"context"
	"fmt"
	"net/url"
	"testing"
	"time"

	natsserver "github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/guarantor/guarantor/platform/natsx"
	"github.com/guarantor/guarantor/platform/testkit/certtest"
	"github.com/guarantor/guarantor/platform/testkit/freeport"
	"github.com/guarantor/guarantor/platform/testkit/natstest"
)

// TestNATSClusterOverTLS runs prod's NATS configuration as the StatefulSet does, three
// nodes, on loopback: the nodes form a JetStream cluster over mutually authenticated TLS
// routes (their certificate is the Secret nats-tls's, here one made for 127.0.0.1, valid
// for server and client authentication as the docs ask), and the components, each with
// its nkey and checking NATS's certificate against the CA, create a three-replica stream,
// publish to it and read it. Only the addresses are the test's: listen ports, route
// URLs (127.0.0.1 instead of nats-N.nats-headless) and the store directory.
func TestNATSClusterOverTLS(t *testing.T) {
	set := build(t, targetNamed(t, "prod"))
	sts := natsStatefulSet(t, set)
	nodes := int(*sts.Spec.Replicas)

	seeds := map[string]string{} // nats-users key → seed file
	setNATSEnv(t, set, sts, func(_, key string) string {
		u := natstest.NewUser(t)
		seeds[key] = u.Seed
		return u.Public
	})
	ca := certtest.NewCA(t, "internal CA")
	conf := writeNATSConfig(t, set, sts, ca, ca.Peer(t, "127.0.0.1"))

	clientPorts, routePorts := make([]int, nodes), make([]int, nodes)
	routes := make([]*url.URL, nodes)
	for i := range nodes {
		clientPorts[i], routePorts[i] = freeport.Port(t), freeport.Port(t)
		routes[i] = &url.URL{Scheme: "nats", Host: fmt.Sprintf("127.0.0.1:%d", routePorts[i])}
	}
	for i := range nodes {
		t.Setenv("POD_NAME", fmt.Sprintf("nats-%d", i)) // server_name, as the pod sets it
		opts, err := natsserver.ProcessConfigFile(conf)
		if err != nil {
			t.Fatal(err)
		}
		if opts.Cluster.TLSConfig == nil {
			t.Fatal("prod's routes have no TLS")
		}
		opts.Host, opts.Port = "127.0.0.1", clientPorts[i]
		opts.HTTPHost, opts.HTTPPort = "", 0
		opts.Cluster.Host, opts.Cluster.Port = "127.0.0.1", routePorts[i]
		opts.Routes = routes
		opts.StoreDir = t.TempDir()
		opts.PidFile = ""
		opts.NoSigs, opts.NoLog = true, true
		srv, err := natsserver.NewServer(opts)
		if err != nil {
			t.Fatal(err)
		}
		go srv.Start()
		t.Cleanup(srv.Shutdown)
		if !srv.ReadyForConnections(10 * time.Second) {
			t.Fatalf("node %d not ready", i)
		}
	}

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	url0 := fmt.Sprintf("nats://127.0.0.1:%d", clientPorts[0])
	connect := func(user, inbox string) jetstream.JetStream {
		t.Helper()
		nc, js := natstest.Connect(t, url0, natsx.Credentials{NkeyFile: seeds[user], CAFile: ca.File, Inbox: inbox})
		if _, err := nc.TLSConnectionState(); err != nil {
			t.Fatalf("%s's connection is not TLS: %v", user, err)
		}
		return js
	}
	events := connect("events", "_INBOX.events")
	// The meta leader needs routes between the nodes: until they are up over TLS and it
	// is elected, no stream can be made (and a request made before goes unanswered, so
	// each attempt gets its own deadline).
	var stream jetstream.Stream
	for {
		var err error
		actx, acancel := context.WithTimeout(ctx, 3*time.Second)
		stream, err = events.CreateOrUpdateStream(actx, jetstream.StreamConfig{
			Name: "GUARANTOR_EVENTS", Subjects: []string{"guarantor.events.v1.>"}, Replicas: nodes, Storage: jetstream.FileStorage,
		})
		acancel()
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("no three-replica stream: %v", err)
		}
		time.Sleep(250 * time.Millisecond)
	}
	if _, err := events.Publish(ctx, "guarantor.events.v1.events.created", []byte("change 1")); err != nil {
		t.Fatal(err)
	}
	info, err := stream.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(info.Cluster.Replicas) != nodes-1 {
		t.Errorf("stream replicas: leader %s and %d others, want %d in all", info.Cluster.Leader, len(info.Cluster.Replicas), nodes)
	}

	gateway := connect("gateway", "_INBOX.gateway")
	cons, err := gateway.OrderedConsumer(ctx, "GUARANTOR_EVENTS", jetstream.OrderedConsumerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	msg, err := cons.Next(jetstream.FetchMaxWait(10 * time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if string(msg.Data()) != "change 1" {
		t.Errorf("the gateway read %q", msg.Data())
	}
}
