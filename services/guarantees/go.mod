module github.com/guarantor/guarantor/services/guarantees

go 1.26.7

require (
	github.com/guarantor/guarantor/gen/go v0.0.0
	github.com/guarantor/guarantor/platform v0.0.0
	// Tests only: the integration tests run the real events service (eventstest).
	github.com/guarantor/guarantor/services/events v0.0.0
)

replace (
	github.com/guarantor/guarantor/gen/go => ../../gen/go
	github.com/guarantor/guarantor/platform => ../../platform
	github.com/guarantor/guarantor/services/events => ../events
)
