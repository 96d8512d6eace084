package main

import (
	"io"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

// TestEveryCommandHasHelpWithExamples walks the command tree: every command a user can
// run documents itself with a short description and at least one example.
func TestEveryCommandHasHelpWithExamples(t *testing.T) {
	t.Parallel()
	root := (&app{stdout: io.Discard, stderr: io.Discard}).newRoot()
	root.InitDefaultCompletionCmd()
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		for _, sub := range c.Commands() {
			walk(sub)
		}
		if !c.Runnable() || strings.HasPrefix(c.CommandPath(), "guarantor completion") {
			return
		}
		if c.Short == "" {
			t.Errorf("%q has no short description", c.CommandPath())
		}
		if !strings.Contains(c.Example, "guarantor ") {
			t.Errorf("%q has no example", c.CommandPath())
		}
	}
	walk(root)
}

func TestExitCodes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		args []string
		code int
	}{
		{[]string{"--output", "xml", "coverage"}, exitUsage},
		{[]string{"events", "get"}, exitUsage},
		{[]string{"events", "list", "--no-such-flag"}, exitUsage},
		{[]string{"no-such-command"}, exitUsage},
		{[]string{"events", "list", "--server", "127.0.0.1:1", "--timeout", "200ms", "--token", "x"}, exitUnavailable},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			if got := run(tt.args, io.Discard, io.Discard); got != tt.code {
				t.Errorf("exit %d, want %d", got, tt.code)
			}
		})
	}
}
