package main

import (
	"bytes"
	"io"
	"testing"
)

func TestEscapeReader(t *testing.T) {
	for _, tc := range []struct {
		name, in, want string
		quit           bool
	}{
		{"plain", "hello", "hello", false},
		{"ctrl-a ctrl-a sends one", "a\x01\x01b", "a\x01b", false},
		{"ctrl-a x quits", "ab\x01xcd", "ab", true},
		{"unknown escape is dropped", "a\x01qb", "ab", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			quit := false
			r := &escapeReader{r: bytes.NewReader([]byte(tc.in)), quit: func() { quit = true }}
			got, err := io.ReadAll(r)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tc.want || quit != tc.quit {
				t.Fatalf("got %q quit %v, want %q quit %v", got, quit, tc.want, tc.quit)
			}
		})
	}
}
