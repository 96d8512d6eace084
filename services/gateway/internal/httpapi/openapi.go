package httpapi

import (
	"encoding/json"

	"google.golang.org/protobuf/reflect/protoreflect"
)

// OpenAPI describes the services as served over HTTP (the Connect protocol: POST
// /<package.Service>/<Method> with the request as JSON) in OpenAPI 3.1, generated from
// the protobuf descriptors at start, so it cannot drift from the contracts.
func OpenAPI(services []protoreflect.ServiceDescriptor, version string) ([]byte, error) {
	g := &openapiGen{schemas: map[string]any{}}
	paths := map[string]any{}
	for _, sd := range services {
		ms := sd.Methods()
		for i := range ms.Len() {
			md := ms.Get(i)
			op := map[string]any{
				"operationId": string(sd.Name()) + "_" + string(md.Name()),
				"tags":        []string{string(sd.FullName())},
				"requestBody": map[string]any{
					"required": true,
					"content":  map[string]any{"application/json": map[string]any{"schema": g.ref(md.Input())}},
				},
				"responses": map[string]any{
					"default": map[string]any{
						"description": "An error: a Connect error object with code, message and details.",
						"content":     map[string]any{"application/json": map[string]any{"schema": map[string]any{"$ref": "#/components/schemas/connect.error"}}},
					},
				},
			}
			if md.IsStreamingServer() {
				op["summary"] = "Server-streaming: send the request as one enveloped message with Content-Type application/connect+json; each response is an enveloped JSON message (Connect streaming protocol)."
				op["requestBody"] = map[string]any{
					"required": true,
					"content":  map[string]any{"application/connect+json": map[string]any{"schema": g.ref(md.Input())}},
				}
				op["responses"].(map[string]any)["200"] = map[string]any{
					"description": "A stream of enveloped messages.",
					"content":     map[string]any{"application/connect+json": map[string]any{"schema": g.ref(md.Output())}},
				}
			} else {
				op["responses"].(map[string]any)["200"] = map[string]any{
					"description": "OK",
					"content":     map[string]any{"application/json": map[string]any{"schema": g.ref(md.Output())}},
				}
			}
			paths["/"+string(sd.FullName())+"/"+string(md.Name())] = map[string]any{"post": op}
		}
	}
	g.schemas["connect.error"] = map[string]any{
		"type": "object",
		"properties": map[string]any{
			"code":    map[string]any{"type": "string", "description": "e.g. unauthenticated, permission_denied, not_found"},
			"message": map[string]any{"type": "string"},
			"details": map[string]any{"type": "array", "items": map[string]any{"type": "object"}},
		},
	}
	doc := map[string]any{
		"openapi": "3.1.0",
		"info": map[string]any{
			"title":       "Guarantor API",
			"version":     version,
			"description": "Every RPC of the Guarantor services, served by the gateway as JSON over HTTP (Connect protocol). Authenticate with `Authorization: Bearer <API key or JWT>`.",
		},
		"paths":    paths,
		"security": []any{map[string]any{"bearer": []string{}}},
		"components": map[string]any{
			"schemas":         g.schemas,
			"securitySchemes": map[string]any{"bearer": map[string]any{"type": "http", "scheme": "bearer"}},
		},
	}
	return json.MarshalIndent(doc, "", "  ")
}

type openapiGen struct {
	schemas map[string]any
}

func (g *openapiGen) ref(md protoreflect.MessageDescriptor) map[string]any {
	if s, ok := wellKnown(md); ok {
		return s
	}
	name := string(md.FullName())
	if _, done := g.schemas[name]; !done {
		g.schemas[name] = nil // reserve first: messages may refer to themselves
		g.schemas[name] = g.message(md)
	}
	return map[string]any{"$ref": "#/components/schemas/" + name}
}

func (g *openapiGen) message(md protoreflect.MessageDescriptor) map[string]any {
	props := map[string]any{}
	fields := md.Fields()
	for i := range fields.Len() {
		fd := fields.Get(i)
		props[fd.JSONName()] = g.field(fd)
	}
	return map[string]any{"type": "object", "properties": props}
}

func (g *openapiGen) field(fd protoreflect.FieldDescriptor) map[string]any {
	if fd.IsMap() {
		return map[string]any{"type": "object", "additionalProperties": g.single(fd.MapValue())}
	}
	if fd.IsList() {
		return map[string]any{"type": "array", "items": g.single(fd)}
	}
	return g.single(fd)
}

// single is the schema of one value of a field, as protojson writes it.
func (g *openapiGen) single(fd protoreflect.FieldDescriptor) map[string]any {
	switch fd.Kind() {
	case protoreflect.BoolKind:
		return map[string]any{"type": "boolean"}
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind:
		return map[string]any{"type": "integer", "format": "int32"}
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
		return map[string]any{"type": "integer", "format": "uint32"}
	case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		// protojson writes 64-bit integers as strings (JavaScript numbers lose precision).
		return map[string]any{"type": "string", "format": "int64"}
	case protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		return map[string]any{"type": "string", "format": "uint64"}
	case protoreflect.FloatKind:
		return map[string]any{"type": "number", "format": "float"}
	case protoreflect.DoubleKind:
		return map[string]any{"type": "number", "format": "double"}
	case protoreflect.StringKind:
		return map[string]any{"type": "string"}
	case protoreflect.BytesKind:
		return map[string]any{"type": "string", "format": "byte"}
	case protoreflect.EnumKind:
		vals := fd.Enum().Values()
		names := make([]string, vals.Len())
		for i := range vals.Len() {
			names[i] = string(vals.Get(i).Name())
		}
		return map[string]any{"type": "string", "enum": names}
	case protoreflect.MessageKind, protoreflect.GroupKind:
		return g.ref(fd.Message())
	}
	return map[string]any{}
}

// wellKnown maps the well-known types to their protojson representation.
func wellKnown(md protoreflect.MessageDescriptor) (map[string]any, bool) {
	switch md.FullName() {
	case "google.protobuf.Timestamp":
		return map[string]any{"type": "string", "format": "date-time"}, true
	case "google.protobuf.Duration":
		return map[string]any{"type": "string", "description": "seconds with an s suffix, e.g. \"1.5s\""}, true
	case "google.protobuf.FieldMask":
		return map[string]any{"type": "string", "description": "comma-separated field paths in lowerCamelCase, e.g. \"title,tags\""}, true
	case "google.protobuf.Struct":
		return map[string]any{"type": "object"}, true
	case "google.protobuf.Value":
		return map[string]any{}, true
	case "google.protobuf.ListValue":
		return map[string]any{"type": "array"}, true
	case "google.protobuf.Empty":
		return map[string]any{"type": "object"}, true
	case "google.protobuf.Any":
		return map[string]any{"type": "object", "properties": map[string]any{"@type": map[string]any{"type": "string"}}}, true
	case "google.protobuf.StringValue", "google.protobuf.BytesValue":
		return map[string]any{"type": "string"}, true
	case "google.protobuf.BoolValue":
		return map[string]any{"type": "boolean"}, true
	case "google.protobuf.Int32Value", "google.protobuf.UInt32Value":
		return map[string]any{"type": "integer"}, true
	case "google.protobuf.Int64Value", "google.protobuf.UInt64Value":
		return map[string]any{"type": "string"}, true
	case "google.protobuf.FloatValue", "google.protobuf.DoubleValue":
		return map[string]any{"type": "number"}, true
	}
	return nil, false
}
