package apperr

import "fmt"

// Violations collects the field violations of one request, so a client can fix them all
// in one round trip. Prefix points them into the request ("event." makes "title" read
// "event.title").
type Violations struct {
	Prefix string
	List   []FieldViolation
}

// Add records that field is wrong.
func (v *Violations) Add(field, format string, args ...any) {
	v.List = append(v.List, FieldViolation{Field: v.Prefix + field, Description: fmt.Sprintf(format, args...)})
}

// Err is INVALID_ARGUMENT with the collected violations, or nil when there are none.
func (v *Violations) Err() error {
	if len(v.List) == 0 {
		return nil
	}
	return InvalidFields(v.List...)
}
