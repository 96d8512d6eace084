package natsx_test

import (
	"strings"
	"testing"

	"github.com/guarantor/guarantor/platform/natsx"
)

// TestRedactURLTokenWithReservedCharacter: a token or password holding '/', '?'
// or '#' (base64 tokens hold '/' and '+') not percent-encoded makes url.Parse end the
// authority early, so the user information was read as host/path/fragment and RedactURL
// echoed the secret, which Connect then logged with every failed attempt ("nats.url").
func TestRedactURLTokenWithReservedCharacter(t *testing.T) {
	for _, in := range []string{
		"nats://s3cr/tT0ken@nats:4222",
		"nats://s3cr#tT0ken@nats:4222",
		"nats://s3cr?tT0ken@nats:4222",
	} {
		if got := natsx.RedactURL(in); strings.Contains(got, "tT0ken") {
			t.Errorf("RedactURL(%q) = %q: the credentials are still there", in, got)
		}
	}
}
