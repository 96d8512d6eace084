// Command guarantor is the Guarantor command line: `guarantor dev` runs the whole suite
// on embedded defaults; the other commands talk to a running gateway.
package main

import (
	"os"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}
