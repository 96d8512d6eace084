package gateway

import (
	"google.golang.org/grpc/codes"
	reflectionv1 "google.golang.org/grpc/reflection/grpc_reflection_v1"
	reflectionv1alpha "google.golang.org/grpc/reflection/grpc_reflection_v1alpha"
	"google.golang.org/grpc/status"
)

// The reflection service descriptions, registered directly so the gateway controls
// which services reflection lists (reflection.Register would list only the services
// registered on the server, not the proxied ones).
var (
	reflectionV1Desc      = reflectionv1.ServerReflection_ServiceDesc
	reflectionV1AlphaDesc = reflectionv1alpha.ServerReflection_ServiceDesc
)

// statusUnimplemented is returned for a method no service of the gateway has.
func statusUnimplemented(fullMethod string) error {
	return status.Errorf(codes.Unimplemented, "unknown method %s", fullMethod)
}
