package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"

	"github.com/spf13/cobra"
)

// logLevels are the values --log-level takes.
var logLevels = map[string]slog.Level{
	"debug": slog.LevelDebug,
	"info":  slog.LevelInfo,
	"warn":  slog.LevelWarn,
	"error": slog.LevelError,
}

// addLogLevelFlag gives root the persistent --log-level flag that
// newLogger reads.
func addLogLevelFlag(root *cobra.Command) {
	root.PersistentFlags().String("log-level", "warn", "what Juice logs on stderr: `LEVEL` debug, info, warn or error")
}

// newLogger builds the command's one logger: text on stderr, at the level
// --log-level gives (warn by default).
func newLogger(cmd *cobra.Command) (*slog.Logger, error) {
	name := "warn"
	if f := cmd.Flags().Lookup("log-level"); f != nil {
		name = f.Value.String()
	}
	level, ok := logLevels[strings.ToLower(name)]
	if !ok {
		return nil, fmt.Errorf("--log-level %q: want debug, info, warn or error", name)
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level})), nil
}

type loggerKey struct{}

// withLogger returns ctx carrying l, for logger to find.
func withLogger(ctx context.Context, l *slog.Logger) context.Context {
	return context.WithValue(ctx, loggerKey{}, l)
}

// logger returns the command's logger carried by ctx (see setUpCommand),
// or one that discards everything when there is none.
func logger(ctx context.Context) *slog.Logger {
	if l, ok := ctx.Value(loggerKey{}).(*slog.Logger); ok && l != nil {
		return l
	}
	return slog.New(slog.DiscardHandler)
}

// setUpCommand runs before every juice command: it builds the logger and
// resolves the cache folder once, and passes both down in the command's
// context (logger, cacheDirFrom).
func setUpCommand(cmd *cobra.Command, _ []string) error {
	l, err := newLogger(cmd)
	if err != nil {
		return err
	}
	ctx := cmd.Context()
	if ctx == nil {
		ctx = context.Background()
	}
	ctx = withLogger(ctx, l)
	dir, err := cacheDir(cmd)
	cmd.SetContext(withCacheDir(ctx, dir, err))
	return nil
}
