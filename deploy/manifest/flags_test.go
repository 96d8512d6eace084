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

	appsv1 "k8s.io/api/apps/v1"
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
		subcommands: []string{"serve", "migrate", "redrive", "compact"},
		health:      eventsv1.EventsService_ServiceDesc.ServiceName,
	},
	"guarantees": {
		flags:       func() *config.FlagSet { return quiet(service.Flags(guarantees.MainSpec)) },
		subcommands: []string{"serve", "migrate", "redrive", "compact"},
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
var listenPorts = map[string]string{"listen": "grpc", "metrics-listen": "metrics", "http-listen": "http", "health-listen": "health"}

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
	value := func(name string) string { return flagValue(fs, args, env, name) }
	if bin != "gateway" {
		_, inArgs := manifest.FlagValue(args, nil, "store", "")
		if env["GUARANTOR_STORE"].Secret == "" || inArgs {
			out = append(out, "the store DSN does not come from a Secret (env GUARANTOR_STORE, secretKeyRef): it holds a password")
		}
	}
	if (sub == "serve" || sub == "redrive") && value("nats-nkey-file") == "" {
		// NATS refuses clients without a key its auth.conf lists.
		out = append(out, "--nats-nkey-file is not set")
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

// flagValue is the value a binary sees for a flag: the last --name=value argument, else
// its GUARANTOR_* variable, else the flag's default ("" for a flag it does not have).
// flagsOf returns, for a container running a Guarantor binary, the binary and the value
// each of its flags takes there (from the arguments, the environment or the default);
// ok is false for any other image (NATS, PostgreSQL).
func flagsOf(set manifest.Set, w manifest.Workload, c corev1.Container) (bin string, value func(string) string, ok bool, err error) {
	bin, ok = manifest.Binary(c.Image)
	if !ok {
		return "", nil, false, nil
	}
	env, err := set.ResolveEnv(w.Namespace, c)
	if err != nil {
		return bin, nil, true, err
	}
	fs := binaries[bin].flags()
	return bin, func(name string) string { return flagValue(fs, c.Args, env, name) }, true, nil
}

func flagValue(fs *config.FlagSet, args []string, env map[string]manifest.EnvValue, name string) string {
	f, _ := fs.Lookup(name)
	if v, ok := manifest.FlagValue(args, env, name, f.Env); ok {
		return v
	}
	return f.Default
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

// probeProblems: the probes are native gRPC probes of the plaintext health port when the
// binary has one (--health-listen), else of the --listen port, and the readiness probe
// asks for the service's health. Without a health port, a --listen port serving TLS can
// only be probed over HTTPS (the kubelet's gRPC probe cannot speak TLS), and not at all
// when it requires client certificates (the kubelet has none).
func probeProblems(c corev1.Container, info binaryInfo, value func(string) string) []string {
	var out []string
	flag, addr := "--listen", value("listen")
	if h := value("health-listen"); h != "" {
		flag, addr = "--health-listen", h
	}
	_, port, _ := net.SplitHostPort(addr)
	n, _ := strconv.Atoi(port)
	tls := flag == "--listen" && value("tls-cert-file") != ""
	mtls := tls && value("tls-client-ca-file") != ""
	for _, name := range []string{"readiness", "liveness", "startup"} {
		p := map[string]*corev1.Probe{"readiness": c.ReadinessProbe, "liveness": c.LivenessProbe, "startup": c.StartupProbe}[name]
		switch {
		case p == nil:
			if name != "startup" {
				out = append(out, "no "+name+" probe")
			}
		case mtls:
			out = append(out, name+" probe: --listen requires client certificates, which the kubelet does not have: set --health-listen and probe it")
		case tls:
			if p.HTTPGet == nil || p.HTTPGet.Scheme != corev1.URISchemeHTTPS {
				out = append(out, name+" probe: --listen serves TLS, which the kubelet's gRPC probe cannot speak: set --health-listen and probe it")
			}
		case p.GRPC == nil:
			out = append(out, name+" probe is not a native gRPC probe")
		case p.GRPC.Port != int32(n):
			out = append(out, fmt.Sprintf("%s probe asks port %d, %s is on %d", name, p.GRPC.Port, flag, n))
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

// TestFlagCheckFails breaks the events Deployment of dev and prod in ways the binary
// would refuse or that would not work in a pod, and expects the check to say so.
func TestFlagCheckFails(t *testing.T) {
	probePort := func(p **corev1.Probe, port int32) {
		probe := **p
		g := *probe.GRPC
		g.Port = port
		probe.GRPC = &g
		*p = &probe
	}
	cases := []struct {
		target string
		name   string
		mutate func(c *corev1.Container)
	}{
		{"dev", "unknown flag", func(c *corev1.Container) { c.Args = append(c.Args, "--listn=0.0.0.0:9091") }},
		{"dev", "bad value", func(c *corev1.Container) { c.Args = append(c.Args, "--stream-replicas=three") }},
		{"dev", "space-separated value", func(c *corev1.Container) { c.Args = append(c.Args, "--log-level", "debug") }},
		{"dev", "unknown subcommand", func(c *corev1.Container) { c.Args[0] = "server" }},
		{"dev", "unknown variable", func(c *corev1.Container) { c.Env = append(c.Env, corev1.EnvVar{Name: "GUARANTOR_LISTN", Value: "x"}) }},
		{"dev", "bad duration in env", func(c *corev1.Container) {
			c.Env = append(c.Env, corev1.EnvVar{Name: "GUARANTOR_SHUTDOWN_GRACE", Value: "20"})
		}},
		{"dev", "foreign variable", func(c *corev1.Container) { c.Env = append(c.Env, corev1.EnvVar{Name: "NATS_URL", Value: "x"}) }},
		{"dev", "loopback listener", func(c *corev1.Container) { setArg(c, "listen", "127.0.0.1:9091") }},
		{"dev", "listener on another port", func(c *corev1.Container) { setArg(c, "listen", "0.0.0.0:9096") }},
		{"dev", "key file not mounted", func(c *corev1.Container) { setArg(c, "principal-key-file", "/etc/principal.key") }},
		{"dev", "key file misnamed", func(c *corev1.Container) { setArg(c, "principal-key-file", "/etc/guarantor/principal/key") }},
		{"dev", "DSN in plain text", func(c *corev1.Container) {
			c.Env[0] = corev1.EnvVar{Name: "GUARANTOR_STORE", Value: "postgres://events:secret@postgres/events"}
		}},
		{"dev", "probe on the metrics port", func(c *corev1.Container) { probePort(&c.ReadinessProbe, 9191) }},
		{"dev", "probe on the gRPC port, not the health port", func(c *corev1.Container) { probePort(&c.LivenessProbe, 9091) }},
		{"dev", "startup probe on another port", func(c *corev1.Container) { probePort(&c.StartupProbe, 9096) }},
		{"dev", "probe without the service", func(c *corev1.Container) {
			p := *c.ReadinessProbe
			g := *p.GRPC
			g.Service = nil
			p.GRPC = &g
			c.ReadinessProbe = &p
		}},
		{"dev", "no liveness probe", func(c *corev1.Container) { c.LivenessProbe = nil }},
		{"dev", "health listener on an undeclared port", func(c *corev1.Container) { setArg(c, "health-listen", "0.0.0.0:9096") }},
		{"dev", "health port not declared", func(c *corev1.Container) {
			var ports []corev1.ContainerPort
			for _, p := range c.Ports {
				if p.Name != "health" {
					ports = append(ports, p)
				}
			}
			c.Ports = ports
		}},
		{"prod", "client CA outside the mounts", func(c *corev1.Container) { setArg(c, "tls-client-ca-file", "/etc/ca.crt") }},
		{"prod", "certificate outside the mounts", func(c *corev1.Container) { setArg(c, "tls-cert-file", "/etc/guarantor/tls.crt") }},
		{"prod", "TLS mount writable", func(c *corev1.Container) {
			for i := range c.VolumeMounts {
				if c.VolumeMounts[i].Name == "tls" {
					c.VolumeMounts[i].ReadOnly = false
				}
			}
		}},
		{"prod", "mutual TLS listener probed, no health listener", func(c *corev1.Container) {
			removeArg(c, "health-listen")
			probePort(&c.ReadinessProbe, 9091)
			probePort(&c.LivenessProbe, 9091)
			probePort(&c.StartupProbe, 9091)
		}},
	}
	for _, tc := range cases {
		t.Run(tc.target+"/"+tc.name, func(t *testing.T) {
			set := build(t, targetNamed(t, tc.target))
			w := workload(t, set, "Deployment", "events")
			if p := containerProblems(set, w, w.Pod.Spec.Containers[0]); len(p) != 0 {
				t.Fatalf("the unmodified container has problems: %v", p)
			}
			c := *w.Pod.Spec.Containers[0].DeepCopy()
			tc.mutate(&c)
			if len(containerProblems(set, w, c)) == 0 {
				t.Fatal("no problem found")
			}
		})
	}
}

// TestMutualTLS: the gateway and the services agree on TLS on every target (a gateway
// speaking TLS to a plaintext service, or a service requiring a client certificate the
// gateway does not present, fails every call), and in prod the services require client
// certificates and the gateway checks theirs against the internal CA.
func TestMutualTLS(t *testing.T) {
	for _, tg := range targets(t) {
		t.Run(tg.name, func(t *testing.T) {
			for _, problem := range mtlsProblems(build(t, tg), strings.HasPrefix(tg.name, "prod")) {
				t.Error(problem)
			}
		})
	}
}

func mtlsProblems(set manifest.Set, required bool) []string {
	var out []string
	values := map[string]func(string) string{}
	for _, w := range set.Workloads() {
		if w.Kind != "Deployment" {
			continue
		}
		for _, c := range w.Pod.Spec.Containers {
			bin, value, ok, err := flagsOf(set, w, c)
			switch {
			case err != nil:
				out = append(out, err.Error())
			case ok:
				values[bin] = value
			}
		}
	}
	gw, ok := values["gateway"]
	if !ok {
		return append(out, "no gateway Deployment")
	}
	gatewayTLS := gw("backend-tls") == "true" || gw("backend-ca-file") != "" || gw("backend-cert-file") != ""
	gatewayCert := gw("backend-cert-file") != "" && gw("backend-key-file") != ""
	if required && gw("backend-ca-file") == "" {
		out = append(out, "the gateway checks the services' certificates against the system's CAs, not the internal CA (--backend-ca-file)")
	}
	for _, svc := range []string{"events", "guarantees"} {
		v, ok := values[svc]
		if !ok {
			out = append(out, "no "+svc+" Deployment")
			continue
		}
		serves := v("tls-cert-file") != "" && v("tls-key-file") != ""
		requires := serves && v("tls-client-ca-file") != ""
		switch {
		case required && !requires:
			out = append(out, svc+" does not require client certificates (--tls-cert-file, --tls-key-file, --tls-client-ca-file)")
		case serves && !gatewayTLS:
			out = append(out, svc+" serves TLS and the gateway dials it in plaintext")
		case !serves && gatewayTLS:
			out = append(out, "the gateway dials "+svc+" over TLS, which it does not serve")
		}
		if requires && !gatewayCert {
			out = append(out, svc+" requires a client certificate and the gateway presents none (--backend-cert-file, --backend-key-file)")
		}
	}
	return out
}

// TestMutualTLSCheckFails takes one half of mutual TLS away in turn.
func TestMutualTLSCheckFails(t *testing.T) {
	cases := []struct {
		target   string
		name     string
		workload string
		mutate   func(c *corev1.Container)
	}{
		{"prod", "events without the client CA", "events", func(c *corev1.Container) { removeArg(c, "tls-client-ca-file") }},
		{"prod", "guarantees in plaintext", "guarantees", func(c *corev1.Container) {
			removeArg(c, "tls-cert-file")
			removeArg(c, "tls-key-file")
			removeArg(c, "tls-client-ca-file")
		}},
		{"prod", "gateway without a client certificate", "gateway", func(c *corev1.Container) {
			removeArg(c, "backend-cert-file")
			removeArg(c, "backend-key-file")
		}},
		{"prod", "gateway without the internal CA", "gateway", func(c *corev1.Container) { removeArg(c, "backend-ca-file") }},
		{"dev", "one service with TLS", "events", func(c *corev1.Container) {
			setArg(c, "tls-cert-file", "/etc/guarantor/principal/tls.crt")
			setArg(c, "tls-key-file", "/etc/guarantor/principal/tls.key")
		}},
		{"dev", "gateway with TLS alone", "gateway", func(c *corev1.Container) { setArg(c, "backend-tls", "true") }},
	}
	for _, tc := range cases {
		t.Run(tc.target+"/"+tc.name, func(t *testing.T) {
			required := tc.target == "prod"
			set := build(t, targetNamed(t, tc.target))
			if p := mtlsProblems(set, required); len(p) != 0 {
				t.Fatalf("the unmodified build has problems: %v", p)
			}
			if len(mtlsProblems(withContainer(t, set, "Deployment", tc.workload, tc.mutate), required)) == 0 {
				t.Fatal("no problem found")
			}
		})
	}
}

// workload returns the workload of the kind and name.
func workload(t testing.TB, set manifest.Set, kind, name string) manifest.Workload {
	t.Helper()
	for _, w := range set.Workloads() {
		if w.Kind == kind && w.Name == name {
			return w
		}
	}
	t.Fatalf("no %s %s", kind, name)
	return manifest.Workload{}
}

// withContainer returns a copy of set whose workload's first container is mutated (the
// built set, shared between tests, is left alone).
func withContainer(t testing.TB, set manifest.Set, kind, name string, mutate func(*corev1.Container)) manifest.Set {
	t.Helper()
	out := manifest.Set{Objects: append([]manifest.Object(nil), set.Objects...)}
	for i, o := range out.Objects {
		if o.Kind != kind || o.Name != name {
			continue
		}
		d, ok := o.Obj.(*appsv1.Deployment)
		if !ok {
			t.Fatalf("%s is not a Deployment", o.ID())
		}
		d = d.DeepCopy()
		mutate(&d.Spec.Template.Spec.Containers[0])
		out.Objects[i].Obj = d
		return out
	}
	t.Fatalf("no %s %s", kind, name)
	return out
}

// setArg replaces the container's --name= argument, or adds it.
func setArg(c *corev1.Container, name, value string) {
	for i, a := range c.Args {
		if strings.HasPrefix(a, "--"+name+"=") {
			c.Args[i] = "--" + name + "=" + value
			return
		}
	}
	c.Args = append(c.Args, "--"+name+"="+value)
}

// removeArg removes the container's --name= arguments.
func removeArg(c *corev1.Container, name string) {
	var args []string
	for _, a := range c.Args {
		if !strings.HasPrefix(a, "--"+name+"=") {
			args = append(args, a)
		}
	}
	c.Args = args
}
