// Command guarantees runs the guarantees service.
//
//	guarantees [serve] [flags]    serve until SIGINT or SIGTERM
//	guarantees migrate [flags]    apply the schema migrations and exit
//	guarantees redrive [flags]    re-publish the change log to JetStream after it lost data
//
// Every flag can also be set through the environment: --events-stream as
// GUARANTOR_EVENTS_STREAM. `guarantees --help` lists them with their defaults.
package main

import (
	"github.com/guarantor/guarantor/platform/service"
	"github.com/guarantor/guarantor/services/guarantees"
)

func main() { service.Exit(guarantees.MainSpec) }
