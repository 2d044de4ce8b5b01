package bytesize

import "testing"

func TestParse(t *testing.T) {
	good := map[string]int64{
		"0B": 0, "512B": 512, "512b": 512, "4K": 4096, "4KiB": 4096, "4k": 4096, "4kib": 4096,
		"64M": 64 << 20, "64MiB": 64 << 20, " 64m ": 64 << 20, "1G": 1 << 30, "2GiB": 2 << 30, "1T": 1 << 40,
	}
	for in, want := range good {
		got, err := Parse(in)
		if err != nil || got != want {
			t.Errorf("Parse(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "0", "512", "1000", "M", "-1M", "1.5G", "64MB", "1KB", "3X", "1 Mi", "99999999999999999999", "9000000T", "1e3M"} {
		if got, err := Parse(in); err == nil {
			t.Errorf("Parse(%q) = %d, want an error", in, got)
		}
	}
}

func TestFormat(t *testing.T) {
	for n, want := range map[int64]string{0: "0 B", 512: "512 B", 4096: "4 KiB", 64 << 20: "64 MiB", 3 << 29: "1.5 GiB"} {
		if got := Format(n); got != want {
			t.Errorf("Format(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestStringRoundTrips(t *testing.T) {
	for n, want := range map[int64]string{0: "0B", 512: "512B", 4096: "4K", 256 << 20: "256M", 1 << 30: "1G", 3 << 29: "1536M", 1 << 40: "1T", 4097: "4097B"} {
		got := String(n)
		if got != want {
			t.Errorf("String(%d) = %q, want %q", n, got, want)
		}
		if back, err := Parse(got); err != nil || back != n {
			t.Errorf("Parse(String(%d)) = %d, %v", n, back, err)
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"64M", "1G", "512B", "4KiB", "64MB", "1000", "", "99999999999999999999T"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := Parse(s)
		if err != nil {
			return
		}
		if n < 0 {
			t.Fatalf("Parse(%q) = %d", s, n)
		}
		if back, err := Parse(String(n)); err != nil || back != n {
			t.Fatalf("Parse(String(%d)) = %d, %v", n, back, err)
		}
	})
}
