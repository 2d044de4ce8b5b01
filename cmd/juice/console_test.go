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

func TestParseSize(t *testing.T) {
	for in, want := range map[string]uint64{"256": 256 << 20, "256M": 256 << 20, "1G": 1 << 30, "1GiB": 1 << 30, "512MB": 512 << 20, "4096k": 4 << 20} {
		if got, err := parseSize(in); err != nil || got != want {
			t.Errorf("parseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "0", "-1", "1T", "lots", "1.5G"} {
		if _, err := parseSize(bad); err == nil {
			t.Errorf("parseSize(%q) accepted", bad)
		}
	}
}
