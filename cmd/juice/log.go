package main

import (
	"log/slog"
	"os"
)

// newLogger is the logger the command hands down to the VMM and the
// machine: warnings and errors, as text on stderr.
func newLogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
}
