// Package freeport hands tests loopback ports that nothing listens on, for
// components that must be told their address before they bind it (a dev stack
// whose gateway dials its services, a NATS cluster whose nodes name each
// other's routes).
//
// Ports are picked below Linux's ephemeral range (32768 and up by default): a
// port there that was free a moment ago can be taken by any outgoing connection
// (a client, another test package) before the component binds it, and the bind
// then fails. Outgoing connections never take ports below it. One test process
// never hands out the same port twice.
package freeport

import (
	"context"
	"math/rand/v2"
	"net"
	"strconv"
	"sync"
	"testing"
)

const (
	lowPort  = 20000
	highPort = 32768
)

var (
	mu        sync.Mutex
	handedOut = map[int]bool{}
)

// Port returns a port on 127.0.0.1 that is free now and outside the ephemeral
// range.
func Port(t testing.TB) int {
	t.Helper()
	mu.Lock()
	defer mu.Unlock()
	for range 1000 {
		port := lowPort + rand.IntN(highPort-lowPort)
		if handedOut[port] {
			continue
		}
		l, err := (&net.ListenConfig{}).Listen(context.Background(), "tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		if err != nil {
			continue
		}
		_ = l.Close()
		handedOut[port] = true
		return port
	}
	t.Fatalf("freeport: no free port in [%d, %d) after 1000 tries", lowPort, highPort)
	return 0
}

// Addr is Port as a "127.0.0.1:port" address.
func Addr(t testing.TB) string {
	t.Helper()
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(Port(t)))
}
