package grpcserver_test

import (
	"io"
	"testing"
	"time"

	"github.com/guarantor/guarantor/platform/config"
	"github.com/guarantor/guarantor/platform/grpcserver"
)

func TestWithDefaults(t *testing.T) {
	t.Parallel()
	got := grpcserver.Config{Listen: ":1", ShutdownGrace: time.Second}.WithDefaults()
	want := grpcserver.Config{
		Listen:            ":1",
		MaxRecvMsgBytes:   4 << 20,
		MaxSendMsgBytes:   16 << 20,
		KeepaliveMinTime:  grpcserver.DefaultKeepaliveMinTime,
		MaxConnectionIdle: grpcserver.DefaultMaxConnectionIdle,
		MaxConnectionAge:  grpcserver.DefaultMaxConnectionAge,
		KeepaliveTime:     grpcserver.DefaultKeepaliveTime,
		KeepaliveTimeout:  grpcserver.DefaultKeepaliveTimeout,
		ShutdownGrace:     time.Second, // set fields are kept
	}
	if got != want {
		t.Errorf("WithDefaults = %+v, want %+v", got, want)
	}
}

func TestRegisterFlags(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want grpcserver.Config
	}{
		{
			name: "binary defaults plus platform defaults",
			want: grpcserver.Config{Listen: "127.0.0.1:9091", MetricsListen: "127.0.0.1:9191"}.WithDefaults(),
		},
		{
			name: "flags and env",
			args: []string{"--listen=:7000", "--reflection", "--max-concurrent-streams=50", "--health-listen=:9095",
				"--tls-cert-file=/tls/tls.crt", "--tls-key-file=/tls/tls.key"},
			env: map[string]string{"GUARANTOR_MAX_RECV_MSG_BYTES": "1024", "GUARANTOR_SHUTDOWN_GRACE": "3s", "GUARANTOR_METRICS_LISTEN": "",
				"GUARANTOR_TLS_CLIENT_CA_FILE": "/tls/ca.crt"},
			want: grpcserver.Config{
				Listen: ":7000", Reflection: true, MaxConcurrentStreams: 50, MaxRecvMsgBytes: 1024,
				ShutdownGrace: 3 * time.Second, HealthListen: ":9095",
				TLSCertFile: "/tls/tls.crt", TLSKeyFile: "/tls/tls.key", TLSClientCAFile: "/tls/ca.crt",
			}.WithDefaults(),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fs := config.NewFlagSet("svc", config.DefaultEnvPrefix)
			fs.SetOutput(io.Discard)
			cfg := grpcserver.RegisterFlags(fs, grpcserver.Config{Listen: "127.0.0.1:9091", MetricsListen: "127.0.0.1:9191"})
			err := fs.ParseWithEnv(tt.args, func(k string) (string, bool) { v, ok := tt.env[k]; return v, ok })
			if err != nil {
				t.Fatal(err)
			}
			if *cfg != tt.want {
				t.Errorf("config = %+v, want %+v", *cfg, tt.want)
			}
		})
	}

	t.Run("flag names", func(t *testing.T) {
		t.Parallel()
		fs := config.NewFlagSet("svc", config.DefaultEnvPrefix)
		grpcserver.RegisterFlags(fs, grpcserver.Config{})
		var names []string
		for _, f := range fs.Flags() {
			names = append(names, f.Name)
		}
		want := []string{"listen", "metrics-listen", "max-recv-msg-bytes", "max-send-msg-bytes", "reflection",
			"keepalive-min-time", "max-connection-idle", "max-connection-age", "keepalive-time", "keepalive-timeout", "shutdown-grace",
			"max-concurrent-streams", "tls-cert-file", "tls-key-file", "tls-client-ca-file", "health-listen"}
		if len(names) != len(want) {
			t.Fatalf("flags = %v, want %v", names, want)
		}
		for i := range want {
			if names[i] != want[i] {
				t.Errorf("flag %d = %s, want %s", i, names[i], want[i])
			}
		}
	})
}
