// Command events runs the events service.
//
//	events [serve] [flags]    serve until SIGINT or SIGTERM
//	events migrate [flags]    apply the schema migrations and exit
//	events redrive [flags]    re-publish the change log to JetStream after it lost data
//
// Every flag can also be set through the environment: --nats-url as GUARANTOR_NATS_URL.
// `events --help` lists them with their defaults.
package main

import (
	"github.com/guarantor/guarantor/platform/service"
	"github.com/guarantor/guarantor/services/events"
)

func main() { service.Exit(events.MainSpec) }
