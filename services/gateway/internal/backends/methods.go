package backends

import (
	"slices"
	"sort"
	"strings"

	"google.golang.org/protobuf/reflect/protoreflect"

	eventsv1 "github.com/guarantor/guarantor/gen/go/guarantor/events/v1"
	gatewayv1 "github.com/guarantor/guarantor/gen/go/guarantor/gateway/v1"
	guaranteesv1 "github.com/guarantor/guarantor/gen/go/guarantor/guarantees/v1"
)

// Backend names, also used in logs, metrics and health.
const (
	Events     = "events"
	Guarantees = "guarantees"
)

// writePrefixes name the methods that change data. Authorisation is decided from the
// method name alone, so a new write method following the API conventions is refused
// to viewers without a code change here.
var writePrefixes = []string{"Create", "Update", "Delete", "BatchCreate", "Transition", "Record", "Satisfy"}

// IsWrite reports whether a method name (without service) changes data.
func IsWrite(method string) bool {
	for _, p := range writePrefixes {
		if strings.HasPrefix(method, p) {
			return true
		}
	}
	return false
}

// Method is one RPC the gateway serves.
type Method struct {
	// FullMethod is the gRPC method path, "/guarantor.events.v1.EventsService/GetEvent".
	FullMethod string
	// Backend is the service the call is forwarded to; empty for the gateway's own.
	Backend string
	// Write is true for methods that change data: viewers may not call them.
	Write bool
	// ServerStreaming is true for streams (watches): no default deadline, counted
	// against the per-principal stream limit.
	ServerStreaming bool
	// Desc is the method's descriptor.
	Desc protoreflect.MethodDescriptor
}

// Methods is the table of every method the gateway serves, built from the services'
// descriptors.
type Methods struct {
	byPath map[string]Method
	// Services maps each served service's full name to its backend ("" for the
	// gateway's own service).
	Services map[string]string
}

// Proxied lists the services forwarded to a backend: their descriptors and backend.
var Proxied = []struct {
	Desc    protoreflect.ServiceDescriptor
	Backend string
}{
	{eventsv1.File_guarantor_events_v1_events_service_proto.Services().ByName("EventsService"), Events},
	{guaranteesv1.File_guarantor_guarantees_v1_guarantees_service_proto.Services().ByName("GuaranteesService"), Guarantees},
}

// GatewayService is the gateway's own service descriptor.
var GatewayService = gatewayv1.File_guarantor_gateway_v1_gateway_proto.Services().ByName("GatewayService")

// NewMethods builds the table of the proxied services and the gateway's own.
func NewMethods() *Methods {
	m := &Methods{byPath: map[string]Method{}, Services: map[string]string{}}
	for _, p := range Proxied {
		m.add(p.Desc, p.Backend)
	}
	m.add(GatewayService, "")
	return m
}

func (m *Methods) add(sd protoreflect.ServiceDescriptor, backend string) {
	m.Services[string(sd.FullName())] = backend
	ms := sd.Methods()
	for i := range ms.Len() {
		md := ms.Get(i)
		path := "/" + string(sd.FullName()) + "/" + string(md.Name())
		m.byPath[path] = Method{
			FullMethod:      path,
			Backend:         backend,
			Write:           IsWrite(string(md.Name())),
			ServerStreaming: md.IsStreamingServer(),
			Desc:            md,
		}
	}
}

// Lookup returns the method served at a gRPC path.
func (m *Methods) Lookup(fullMethod string) (Method, bool) {
	mm, ok := m.byPath[fullMethod]
	return mm, ok
}

// All lists every method, sorted by path.
func (m *Methods) All() []Method {
	out := make([]Method, 0, len(m.byPath))
	for _, mm := range m.byPath {
		out = append(out, mm)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].FullMethod < out[j].FullMethod })
	return out
}

// ServiceNames lists the served services' full names, sorted.
func (m *Methods) ServiceNames() []string {
	out := make([]string, 0, len(m.Services))
	for s := range m.Services {
		out = append(out, s)
	}
	slices.Sort(out)
	return out
}
