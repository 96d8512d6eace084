package manifest_test

import (
	"fmt"
	"io"
	"net"
	"path"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/guarantor/guarantor/deploy/manifest"
	eventsv1 "github.com/guarantor/guarantor/gen/go/guarantor/events/v1"
	guaranteesv1 "github.com/guarantor/guarantor/gen/go/guarantor/guarantees/v1"
	"github.com/guarantor/guarantor/platform/config"
	"github.com/guarantor/guarantor/platform/logging"
	"github.com/guarantor/guarantor/platform/service"
	"github.com/guarantor/guarantor/services/events"
	"github.com/guarantor/guarantor/services/gateway"
	"github.com/guarantor/guarantor/services/guarantees"
)

// binaryInfo is what a binary accepts, taken from its own code.
type binaryInfo struct {
	// flags builds a fresh flag set, as the binary's main does.
	flags func() *config.FlagSet
	// subcommands may come first in args.
	subcommands []string
	// health is the gRPC health service its readiness probe asks about ("" = overall).
	health string
}

var binaries = map[string]binaryInfo{
	"events": {
		flags:       func() *config.FlagSet { return quiet(service.Flags(events.MainSpec)) },
		subcommands: []string{"serve", "migrate", "redrive"},
		health:      eventsv1.EventsService_ServiceDesc.ServiceName,
	},
	"guarantees": {
		flags:       func() *config.FlagSet { return quiet(service.Flags(guarantees.MainSpec)) },
		subcommands: []string{"serve", "migrate", "redrive"},
		health:      guaranteesv1.GuaranteesService_ServiceDesc.ServiceName,
	},
	// services/gateway/cmd/gateway builds its flag set from gateway.RegisterFlags and
	// logging.RegisterFlags; this mirrors it.
	"gateway": {
		flags: func() *config.FlagSet {
			fs := config.NewFlagSet("gateway", config.DefaultEnvPrefix)
			gateway.RegisterFlags(fs)
			logging.RegisterFlags(fs, logging.Config{})
			fs.SetOutput(io.Discard)
			return fs
		},
		subcommands: []string{"serve"},
	},
}

// quiet keeps a flag set from printing its usage on the errors the tests provoke.
func quiet(fs *config.FlagSet, _ func() service.Config, _ *logging.Config) *config.FlagSet {
	fs.SetOutput(io.Discard)
	return fs
}

// runtimeEnv are the variables besides GUARANTOR_* a Go binary honours.
var runtimeEnv = []string{"GOMEMLIMIT", "GOMAXPROCS", "GOGC", "GODEBUG"}

// listenPorts maps the listen flags to the container port name each must match.
var listenPorts = map[string]string{"listen": "grpc", "metrics-listen": "metrics", "http-listen": "http"}

// TestBinariesAcceptTheirConfiguration: every flag and GUARANTOR_* variable a manifest
// passes is one the binary defines, and the binary's own parser accepts every value;
// listeners bind all interfaces on the declared ports; probes ask the right port and
// health service; every file a flag names is mounted; DSNs come from Secrets.
func TestBinariesAcceptTheirConfiguration(t *testing.T) {
	forEachContainer(t, func(t *testing.T, set manifest.Set, w manifest.Workload, c corev1.Container) {
		for _, problem := range containerProblems(set, w, c) {
			t.Error(problem)
		}
	})
}

func containerProblems(set manifest.Set, w manifest.Workload, c corev1.Container) []string {
	bin, ok := manifest.Binary(c.Image)
	if !ok {
		if strings.Contains(c.Image, "guarantor") {
			return []string{fmt.Sprintf("image %q looks like Guarantor's but names no binary", c.Image)}
		}
		return nil // NATS, PostgreSQL: not ours
	}
	info := binaries[bin]
	var out []string
	if len(c.Command) > 0 {
		out = append(out, "sets command: the image's entrypoint is the binary")
	}
	env, err := set.ResolveEnv(w.Namespace, c)
	if err != nil {
		return append(out, err.Error())
	}
	fs := info.flags()
	args := c.Args
	sub := "serve"
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		sub, args = args[0], args[1:]
		if !contains(info.subcommands, sub) {
			out = append(out, fmt.Sprintf("%s has no subcommand %q", bin, sub))
		}
	}
	for _, a := range args {
		name, _, hasValue := strings.Cut(strings.TrimPrefix(a, "--"), "=")
		switch {
		case !strings.HasPrefix(a, "--") || !hasValue:
			out = append(out, fmt.Sprintf("argument %q: write flags as --name=value", a))
		default:
			if _, ok := fs.Lookup(name); !ok {
				out = append(out, fmt.Sprintf("%s has no flag --%s", bin, name))
			}
		}
	}
	byEnv := map[string]config.Flag{}
	for _, f := range fs.Flags() {
		byEnv[f.Env] = f
	}
	for _, name := range manifest.SortedKeys(env) {
		if strings.HasPrefix(name, config.DefaultEnvPrefix) {
			if _, ok := byEnv[name]; !ok {
				out = append(out, fmt.Sprintf("%s reads no variable %s (from %s)", bin, name, env[name].From))
			}
		} else if !contains(runtimeEnv, name) {
			out = append(out, fmt.Sprintf("variable %s (from %s) is neither a %s flag nor a Go runtime setting", name, env[name].From, bin))
		}
	}
	if err := fs.ParseWithEnv(args, func(k string) (string, bool) { v, ok := env[k]; return v.Value, ok }); err != nil {
		out = append(out, fmt.Sprintf("%s refuses its configuration: %v", bin, err))
	} else if len(fs.Args()) > 0 {
		out = append(out, fmt.Sprintf("%s would ignore the arguments %v", bin, fs.Args()))
	}
	value := func(name string) string {
		f, _ := fs.Lookup(name)
		v, ok := manifest.FlagValue(args, env, name, f.Env)
		if !ok {
			return f.Default
		}
		return v
	}
	if bin != "gateway" {
		_, inArgs := manifest.FlagValue(args, nil, "store", "")
		if env["GUARANTOR_STORE"].Secret == "" || inArgs {
			out = append(out, "the store DSN does not come from a Secret (env GUARANTOR_STORE, secretKeyRef): it holds a password")
		}
	}
	if sub != "serve" {
		return out
	}
	for _, name := range []string{"principal-key-file", "nats-url"} {
		if value(name) == "" {
			out = append(out, fmt.Sprintf("--%s is not set", name))
		}
	}
	if bin == "gateway" && value("keys-file") == "" && value("jwks-file") == "" {
		out = append(out, "the gateway has neither --keys-file nor --jwks-file")
	}
	out = append(out, listenProblems(c, value)...)
	out = append(out, probeProblems(c, info, value)...)
	out = append(out, fileFlagProblems(set, w, c, fs, value)...)
	if grace, err := time.ParseDuration(value("shutdown-grace")); err == nil {
		tgp := int64(30)
		if w.Pod.Spec.TerminationGracePeriodSeconds != nil {
			tgp = *w.Pod.Spec.TerminationGracePeriodSeconds
		}
		if time.Duration(tgp)*time.Second <= grace+5*time.Second {
			out = append(out, fmt.Sprintf("terminationGracePeriodSeconds %d leaves no room after --shutdown-grace %s", tgp, grace))
		}
	}
	return out
}

// listenProblems: a served listener binds every interface (the default 127.0.0.1 is
// unreachable in a pod) on the port the container declares under the expected name.
func listenProblems(c corev1.Container, value func(string) string) []string {
	var out []string
	for flag, portName := range listenPorts {
		addr := value(flag)
		if addr == "" {
			continue // not this binary's flag, or disabled
		}
		host, port, err := net.SplitHostPort(addr)
		if err != nil {
			out = append(out, fmt.Sprintf("--%s=%s: %v", flag, addr, err))
			continue
		}
		if host != "0.0.0.0" && host != "" && host != "::" {
			out = append(out, fmt.Sprintf("--%s=%s is not reachable from outside the pod", flag, addr))
		}
		n, _ := strconv.Atoi(port)
		found := false
		for _, p := range c.Ports {
			if p.Name == portName && p.ContainerPort == int32(n) {
				found = true
			}
		}
		if !found {
			out = append(out, fmt.Sprintf("--%s=%s: the container declares no port %q %d", flag, addr, portName, n))
		}
	}
	return out
}

// probeProblems: native gRPC probes on the --listen port, asking for the service's
// health; with TLS on the listener (which the kubelet's gRPC probe cannot speak), HTTPS.
func probeProblems(c corev1.Container, info binaryInfo, value func(string) string) []string {
	var out []string
	_, port, _ := net.SplitHostPort(value("listen"))
	n, _ := strconv.Atoi(port)
	tls := value("tls-cert-file") != ""
	for name, p := range map[string]*corev1.Probe{"readiness": c.ReadinessProbe, "liveness": c.LivenessProbe} {
		switch {
		case p == nil:
			out = append(out, "no "+name+" probe")
		case tls:
			if p.HTTPGet == nil || p.HTTPGet.Scheme != corev1.URISchemeHTTPS {
				out = append(out, name+" probe: the listeners serve TLS, which only an HTTPS probe speaks")
			}
		case p.GRPC == nil:
			out = append(out, name+" probe is not a native gRPC probe")
		case p.GRPC.Port != int32(n):
			out = append(out, fmt.Sprintf("%s probe asks port %d, the server listens on %d", name, p.GRPC.Port, n))
		case name == "readiness" && info.health != "" && (p.GRPC.Service == nil || *p.GRPC.Service != info.health):
			out = append(out, fmt.Sprintf("readiness probe does not ask for %s", info.health))
		}
	}
	return out
}

// fileFlagProblems: a flag naming a file (--*-file) points into a read-only mount of a
// Secret or ConfigMap, whose key (when the object is in the build) is the file's name.
func fileFlagProblems(set manifest.Set, w manifest.Workload, c corev1.Container, fs *config.FlagSet, value func(string) string) []string {
	var out []string
	for _, f := range fs.Flags() {
		if !strings.HasSuffix(f.Name, "-file") || value(f.Name) == "" {
			continue
		}
		file := value(f.Name)
		var mount *corev1.VolumeMount
		for i, m := range c.VolumeMounts {
			if path.Dir(file) == path.Clean(m.MountPath) && m.SubPath == "" {
				mount = &c.VolumeMounts[i]
			}
		}
		if mount == nil {
			out = append(out, fmt.Sprintf("--%s=%s is in no directory mount", f.Name, file))
			continue
		}
		if !mount.ReadOnly {
			out = append(out, fmt.Sprintf("--%s: the mount %s is not read-only", f.Name, mount.MountPath))
		}
		var vol *corev1.Volume
		for i, v := range w.Pod.Spec.Volumes {
			if v.Name == mount.Name {
				vol = &w.Pod.Spec.Volumes[i]
			}
		}
		if vol == nil {
			out = append(out, fmt.Sprintf("--%s: no volume %s", f.Name, mount.Name))
			continue
		}
		var keys map[string]bool
		switch {
		case vol.Secret != nil:
			if o, ok := set.Get("Secret", w.Namespace, vol.Secret.SecretName); ok {
				keys = map[string]bool{}
				s := o.Obj.(*corev1.Secret)
				for k := range s.Data {
					keys[k] = true
				}
				for k := range s.StringData {
					keys[k] = true
				}
			}
		case vol.ConfigMap != nil:
			if o, ok := set.Get("ConfigMap", w.Namespace, vol.ConfigMap.Name); ok {
				keys = map[string]bool{}
				for k := range o.Obj.(*corev1.ConfigMap).Data {
					keys[k] = true
				}
			}
		default:
			out = append(out, fmt.Sprintf("--%s: %s is neither a Secret nor a ConfigMap", f.Name, mount.Name))
			continue
		}
		if keys != nil && !keys[path.Base(file)] {
			out = append(out, fmt.Sprintf("--%s=%s: the volume %s has no key %s (keys %v)", f.Name, file, mount.Name, path.Base(file), manifest.SortedKeys(keys)))
		}
	}
	return out
}

// TestFlagCheckFails breaks the dev events Deployment in ways the binary would refuse or
// that would not work in a pod, and expects the check to say so.
func TestFlagCheckFails(t *testing.T) {
	set := build(t, targets(t)[1])
	var base manifest.Workload
	for _, w := range set.Workloads() {
		if w.Kind == "Deployment" && w.Name == "events" {
			base = w
		}
	}
	if base.Pod == nil {
		t.Fatal("no events Deployment")
	}
	if p := containerProblems(set, base, base.Pod.Spec.Containers[0]); len(p) != 0 {
		t.Fatalf("the unmodified container has problems: %v", p)
	}
	cases := []struct {
		name   string
		mutate func(c *corev1.Container)
	}{
		{"unknown flag", func(c *corev1.Container) { c.Args = append(c.Args, "--listn=0.0.0.0:9091") }},
		{"bad value", func(c *corev1.Container) { c.Args = append(c.Args, "--stream-replicas=three") }},
		{"space-separated value", func(c *corev1.Container) { c.Args = append(c.Args, "--log-level", "debug") }},
		{"unknown subcommand", func(c *corev1.Container) { c.Args[0] = "server" }},
		{"unknown variable", func(c *corev1.Container) { c.Env = append(c.Env, corev1.EnvVar{Name: "GUARANTOR_LISTN", Value: "x"}) }},
		{"bad duration in env", func(c *corev1.Container) {
			c.Env = append(c.Env, corev1.EnvVar{Name: "GUARANTOR_SHUTDOWN_GRACE", Value: "20"})
		}},
		{"foreign variable", func(c *corev1.Container) { c.Env = append(c.Env, corev1.EnvVar{Name: "NATS_URL", Value: "x"}) }},
		{"loopback listener", func(c *corev1.Container) { c.Args[1] = "--listen=127.0.0.1:9091" }},
		{"listener on another port", func(c *corev1.Container) { c.Args[1] = "--listen=0.0.0.0:9095" }},
		{"key file not mounted", func(c *corev1.Container) { c.Args[3] = "--principal-key-file=/etc/principal.key" }},
		{"key file misnamed", func(c *corev1.Container) { c.Args[3] = "--principal-key-file=/etc/guarantor/principal/key" }},
		{"DSN in plain text", func(c *corev1.Container) {
			c.Env[0] = corev1.EnvVar{Name: "GUARANTOR_STORE", Value: "postgres://events:secret@postgres/events"}
		}},
		{"probe on the metrics port", func(c *corev1.Container) {
			p := *c.ReadinessProbe
			g := *p.GRPC
			g.Port = 9191
			p.GRPC = &g
			c.ReadinessProbe = &p
		}},
		{"probe without the service", func(c *corev1.Container) {
			p := *c.ReadinessProbe
			g := *p.GRPC
			g.Service = nil
			p.GRPC = &g
			c.ReadinessProbe = &p
		}},
		{"no liveness probe", func(c *corev1.Container) { c.LivenessProbe = nil }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := *base.Pod.Spec.Containers[0].DeepCopy()
			tc.mutate(&c)
			if len(containerProblems(set, base, c)) == 0 {
				t.Fatal("no problem found")
			}
		})
	}
}
