package main

import (
	"context"
	"log/slog"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

// probeCommand runs juice with args ending in a probe subcommand and
// returns the context the probe ran with.
func probeCommand(t *testing.T, args ...string) (context.Context, error) {
	t.Helper()
	root := newRootCmd()
	var got context.Context
	root.AddCommand(&cobra.Command{Use: "probe", RunE: func(cmd *cobra.Command, _ []string) error {
		got = cmd.Context()
		return nil
	}})
	root.SetArgs(args)
	err := root.ExecuteContext(context.Background())
	return got, err
}

func TestLogLevel(t *testing.T) {
	for _, c := range []struct {
		args []string
		want slog.Level // the lowest level enabled
	}{
		{[]string{"probe"}, slog.LevelWarn},
		{[]string{"--log-level", "debug", "probe"}, slog.LevelDebug},
		{[]string{"probe", "--log-level", "info"}, slog.LevelInfo},
		{[]string{"--log-level=ERROR", "probe"}, slog.LevelError},
	} {
		ctx, err := probeCommand(t, c.args...)
		if err != nil {
			t.Fatalf("%v: %v", c.args, err)
		}
		l := logger(ctx)
		if !l.Enabled(ctx, c.want) || l.Enabled(ctx, c.want-1) {
			t.Errorf("%v: the logger does not start at %v", c.args, c.want)
		}
	}
	if _, err := probeCommand(t, "--log-level", "loud", "probe"); err == nil || !strings.Contains(err.Error(), `--log-level "loud"`) {
		t.Errorf("a bad level: %v", err)
	}
	// Without a command's context, nothing is logged.
	if logger(context.Background()).Enabled(context.Background(), slog.LevelError) {
		t.Error("the fallback logger logs")
	}
}
