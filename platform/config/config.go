// Package config registers command-line flags that fall back to environment
// variables, so every binary is configured the same way on a laptop (flags) and
// in Kubernetes (env). A flag --metrics-listen is also read from
// GUARANTOR_METRICS_LISTEN; the command line wins over the environment, and the
// environment wins over the documented default.
package config

import (
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"
)

// DefaultEnvPrefix is the prefix of every Guarantor environment variable.
const DefaultEnvPrefix = "GUARANTOR_"

// Flag describes one registered flag, for usage output and for checks that
// deployment manifests only pass flags and variables a binary accepts.
type Flag struct {
	Name    string // flag name without dashes, e.g. "metrics-listen"
	Env     string // environment variable, e.g. "GUARANTOR_METRICS_LISTEN"
	Usage   string
	Default string // the default value as text
}

// FlagSet wraps flag.FlagSet and remembers the environment variable of each
// flag. The zero value is not usable; call NewFlagSet.
type FlagSet struct {
	fs     *flag.FlagSet
	prefix string
	out    io.Writer
	flags  []Flag // registration order, which is also the usage order
}

// NewFlagSet returns an empty FlagSet for the program name. envPrefix is
// usually DefaultEnvPrefix. Parse errors are returned, never os.Exit.
func NewFlagSet(name, envPrefix string) *FlagSet {
	f := &FlagSet{
		fs:     flag.NewFlagSet(name, flag.ContinueOnError),
		prefix: envPrefix,
		out:    os.Stderr,
	}
	f.fs.SetOutput(f.out)
	f.fs.Usage = func() { f.PrintUsage(f.out) }
	return f
}

// SetOutput sets where usage and parse errors are written (default os.Stderr).
func (f *FlagSet) SetOutput(w io.Writer) {
	f.out = w
	f.fs.SetOutput(w)
}

// EnvName is the environment variable that backs the flag name:
// prefix + upper case, with '-' and '.' replaced by '_'.
func (f *FlagSet) EnvName(name string) string {
	r := strings.NewReplacer("-", "_", ".", "_")
	return f.prefix + strings.ToUpper(r.Replace(name))
}

// Var registers a flag of any flag.Value type; its current value is the default.
// The typed helpers below are all built on it.
func (f *FlagSet) Var(v flag.Value, name, usage string) {
	// flag.FlagSet.Var panics on a duplicate name, which is a programming
	// error we want to see at startup.
	f.fs.Var(v, name, usage)
	f.flags = append(f.flags, Flag{Name: name, Env: f.EnvName(name), Usage: usage, Default: v.String()})
}

// StringVar registers a string flag stored in p.
func (f *FlagSet) StringVar(p *string, name, def, usage string) {
	*p = def
	f.Var((*stringValue)(p), name, usage)
}

// String registers a string flag and returns where its value is stored.
func (f *FlagSet) String(name, def, usage string) *string {
	p := new(string)
	f.StringVar(p, name, def, usage)
	return p
}

// IntVar registers an int flag stored in p.
func (f *FlagSet) IntVar(p *int, name string, def int, usage string) {
	*p = def
	f.Var((*intValue)(p), name, usage)
}

// Int registers an int flag.
func (f *FlagSet) Int(name string, def int, usage string) *int {
	p := new(int)
	f.IntVar(p, name, def, usage)
	return p
}

// Int64Var registers an int64 flag stored in p.
func (f *FlagSet) Int64Var(p *int64, name string, def int64, usage string) {
	*p = def
	f.Var((*int64Value)(p), name, usage)
}

// Int64 registers an int64 flag.
func (f *FlagSet) Int64(name string, def int64, usage string) *int64 {
	p := new(int64)
	f.Int64Var(p, name, def, usage)
	return p
}

// Uint32Var registers a uint32 flag stored in p (e.g. gRPC stream limits).
func (f *FlagSet) Uint32Var(p *uint32, name string, def uint32, usage string) {
	*p = def
	f.Var((*uint32Value)(p), name, usage)
}

// BoolVar registers a bool flag stored in p. On the command line it may be
// given as --name or --name=false.
func (f *FlagSet) BoolVar(p *bool, name string, def bool, usage string) {
	*p = def
	f.Var((*boolValue)(p), name, usage)
}

// Bool registers a bool flag.
func (f *FlagSet) Bool(name string, def bool, usage string) *bool {
	p := new(bool)
	f.BoolVar(p, name, def, usage)
	return p
}

// Float64Var registers a float64 flag stored in p.
func (f *FlagSet) Float64Var(p *float64, name string, def float64, usage string) {
	*p = def
	f.Var((*float64Value)(p), name, usage)
}

// DurationVar registers a time.Duration flag stored in p ("250ms", "10s").
func (f *FlagSet) DurationVar(p *time.Duration, name string, def time.Duration, usage string) {
	*p = def
	f.Var((*durationValue)(p), name, usage)
}

// Duration registers a time.Duration flag.
func (f *FlagSet) Duration(name string, def time.Duration, usage string) *time.Duration {
	p := new(time.Duration)
	f.DurationVar(p, name, def, usage)
	return p
}

// Flags lists the registered flags in registration order.
func (f *FlagSet) Flags() []Flag {
	return append([]Flag(nil), f.flags...)
}

// Lookup returns the registered flag with this name.
func (f *FlagSet) Lookup(name string) (Flag, bool) {
	for _, fl := range f.flags {
		if fl.Name == name {
			return fl, true
		}
	}
	return Flag{}, false
}

// Args returns the arguments left after the flags.
func (f *FlagSet) Args() []string { return f.fs.Args() }

// Parse parses the command-line arguments (without the program name), then
// applies the process environment to the flags not given on the command line.
// It returns flag.ErrHelp for -h/--help.
func (f *FlagSet) Parse(args []string) error {
	return f.ParseWithEnv(args, os.LookupEnv)
}

// ParseWithEnv is Parse with an explicit environment lookup, so tests need not
// touch the process environment.
func (f *FlagSet) ParseWithEnv(args []string, lookupEnv func(string) (string, bool)) error {
	if err := f.fs.Parse(args); err != nil {
		return err
	}
	onCommandLine := map[string]bool{}
	f.fs.Visit(func(fl *flag.Flag) { onCommandLine[fl.Name] = true })
	for _, fl := range f.flags {
		if onCommandLine[fl.Name] {
			continue
		}
		v, ok := lookupEnv(fl.Env)
		if !ok {
			continue
		}
		// Only typed values (numbers, booleans, durations) can fail, and they
		// quote the bad input; string values, which may be secrets, never fail.
		if err := f.fs.Set(fl.Name, v); err != nil {
			return fmt.Errorf("config: environment variable %s (flag --%s): %w", fl.Env, fl.Name, err)
		}
	}
	return nil
}

// PrintUsage writes every flag with its environment variable and default.
func (f *FlagSet) PrintUsage(w io.Writer) {
	fmt.Fprintf(w, "Usage of %s:\n", f.fs.Name())
	for _, fl := range f.flags {
		fmt.Fprintf(w, "  --%s\n    \t%s\n    \tenv %s, default %q\n", fl.Name, fl.Usage, fl.Env, fl.Default)
	}
}

// The flag package keeps its Value implementations private, so these small
// ones exist to let Var see every flag uniformly.

type stringValue string

func (v *stringValue) Set(s string) error { *v = stringValue(s); return nil }
func (v *stringValue) String() string     { return string(*v) }

type intValue int

func (v *intValue) Set(s string) error {
	n, err := strconv.ParseInt(s, 0, strconv.IntSize)
	if err != nil {
		return fmt.Errorf("invalid integer %q", s)
	}
	*v = intValue(n)
	return nil
}
func (v *intValue) String() string { return strconv.Itoa(int(*v)) }

type float64Value float64

func (v *float64Value) Set(s string) error {
	n, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return fmt.Errorf("invalid number %q", s)
	}
	*v = float64Value(n)
	return nil
}
func (v *float64Value) String() string { return strconv.FormatFloat(float64(*v), 'g', -1, 64) }

type int64Value int64

func (v *int64Value) Set(s string) error {
	n, err := strconv.ParseInt(s, 0, 64)
	if err != nil {
		return fmt.Errorf("invalid integer %q", s)
	}
	*v = int64Value(n)
	return nil
}
func (v *int64Value) String() string { return strconv.FormatInt(int64(*v), 10) }

type uint32Value uint32

func (v *uint32Value) Set(s string) error {
	n, err := strconv.ParseUint(s, 0, 32)
	if err != nil {
		return fmt.Errorf("invalid unsigned 32-bit integer %q", s)
	}
	*v = uint32Value(n)
	return nil
}
func (v *uint32Value) String() string { return strconv.FormatUint(uint64(*v), 10) }

type boolValue bool

func (v *boolValue) Set(s string) error {
	b, err := strconv.ParseBool(s)
	if err != nil {
		return fmt.Errorf("invalid boolean %q (want true or false)", s)
	}
	*v = boolValue(b)
	return nil
}
func (v *boolValue) String() string { return strconv.FormatBool(bool(*v)) }

// IsBoolFlag lets the flag package accept a bare --name.
func (v *boolValue) IsBoolFlag() bool { return true }

type durationValue time.Duration

func (v *durationValue) Set(s string) error {
	d, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("invalid duration %q (e.g. 500ms, 10s, 2m)", s)
	}
	*v = durationValue(d)
	return nil
}
func (v *durationValue) String() string { return time.Duration(*v).String() }
