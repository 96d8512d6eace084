package freeport_test

import (
	"context"
	"net"
	"testing"

	"github.com/guarantor/guarantor/platform/testkit/freeport"
)

func TestAddrIsFreeAndNeverRepeated(t *testing.T) {
	seen := map[string]bool{}
	for range 50 {
		addr := freeport.Addr(t)
		if seen[addr] {
			t.Fatalf("%s handed out twice", addr)
		}
		seen[addr] = true
		port := addr[len("127.0.0.1:"):]
		if port < "20000" || len(port) != 5 || port >= "32768" {
			t.Fatalf("%s is outside [20000, 32768)", addr)
		}
		l, err := (&net.ListenConfig{}).Listen(context.Background(), "tcp", addr)
		if err != nil {
			t.Fatalf("%s is not free: %v", addr, err)
		}
		_ = l.Close()
	}
}
