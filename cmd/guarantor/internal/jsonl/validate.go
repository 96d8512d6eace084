package jsonl

import (
	"errors"
	"strings"
	"sync"

	"buf.build/go/protovalidate"
	"google.golang.org/protobuf/proto"

	eventsv1 "github.com/guarantor/guarantor/gen/go/guarantor/events/v1"
	guaranteesv1 "github.com/guarantor/guarantor/gen/go/guarantor/guarantees/v1"
)

var (
	validatorOnce sync.Once
	validator     protovalidate.Validator
	validatorErr  error
)

// Validate checks a request message against the protovalidate rules declared in the
// proto files: the same check the servers' interceptor makes. The error lists every
// violation as "field.path: message".
func Validate(m proto.Message) error {
	validatorOnce.Do(func() { validator, validatorErr = protovalidate.New() })
	if validatorErr != nil {
		return validatorErr
	}
	err := validator.Validate(m)
	var verr *protovalidate.ValidationError
	if err == nil || !errors.As(err, &verr) {
		return err
	}
	parts := make([]string, 0, len(verr.Violations))
	for _, v := range verr.Violations {
		desc := v.Proto.GetMessage()
		if desc == "" {
			desc = v.Proto.GetRuleId()
		}
		parts = append(parts, protovalidate.FieldPathString(v.Proto.GetField())+": "+desc)
	}
	return errors.New(strings.Join(parts, "; "))
}

// createRequest is the request that creates m under its own id, as Import sends it.
func createRequest(m proto.Message) proto.Message {
	switch r := m.(type) {
	case *eventsv1.Actor:
		return &eventsv1.CreateActorRequest{ActorId: idOf(m), Actor: r}
	case *eventsv1.Event:
		return &eventsv1.CreateEventRequest{EventId: idOf(m), Event: r}
	case *guaranteesv1.Framework:
		return &guaranteesv1.CreateFrameworkRequest{FrameworkId: idOf(m), Framework: r}
	case *guaranteesv1.Guarantee:
		return &guaranteesv1.CreateGuaranteeRequest{GuaranteeId: idOf(m), Guarantee: r}
	}
	return nil
}
