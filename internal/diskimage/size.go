package diskimage

import (
	"fmt"
	"strconv"
	"strings"
)

// Binary size units.
const (
	KiB int64 = 1 << 10
	MiB int64 = 1 << 20
	GiB int64 = 1 << 30
	TiB int64 = 1 << 40
)

// ParseSize parses a size such as "64M", "1G", "512K" or "1048576".
//
// Units are binary and case-insensitive: K (or KiB) is 1024 bytes, M (MiB)
// 1024², G (GiB) 1024³ and T (TiB) 1024⁴. A plain number, or one ending in
// "B", is a number of bytes. The number must be a non-negative integer.
// Decimal-looking units such as "MB" are refused rather than guessed at,
// because they could mean either 10⁶ or 2²⁰.
func ParseSize(s string) (int64, error) {
	t := strings.TrimSpace(s)
	if t == "" {
		return 0, fmt.Errorf("size %q: empty", s)
	}
	i := 0
	for i < len(t) && t[i] >= '0' && t[i] <= '9' {
		i++
	}
	if i == 0 {
		return 0, fmt.Errorf("size %q: must start with a number of bytes or units (e.g. 64M)", s)
	}
	num, unit := t[:i], strings.ToUpper(strings.TrimSpace(t[i:]))
	var mult int64
	switch unit {
	case "", "B":
		mult = 1
	case "K", "KIB":
		mult = KiB
	case "M", "MIB":
		mult = MiB
	case "G", "GIB":
		mult = GiB
	case "T", "TIB":
		mult = TiB
	case "KB", "MB", "GB", "TB":
		return 0, fmt.Errorf("size %q: ambiguous unit %s; use %s or %siB (binary units)", s, unit, unit[:1], unit[:1])
	default:
		return 0, fmt.Errorf("size %q: unknown unit %q (want K, M, G, T, their KiB/MiB/GiB/TiB spellings, or B)", s, t[i:])
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("size %q: %w", s, err)
	}
	if n > (1<<63-1)/mult {
		return 0, fmt.Errorf("size %q: too large", s)
	}
	return n * mult, nil
}

// FormatSize formats n bytes for people: exact multiples of a binary unit
// as "64 MiB", other sizes of at least 1 KiB with one decimal ("1.5 MiB"),
// and small sizes in bytes ("512 B").
func FormatSize(n int64) string {
	units := []struct {
		name string
		size int64
	}{{"TiB", TiB}, {"GiB", GiB}, {"MiB", MiB}, {"KiB", KiB}}
	for _, u := range units {
		if n >= u.size || -n >= u.size {
			if n%u.size == 0 {
				return fmt.Sprintf("%d %s", n/u.size, u.name)
			}
			return fmt.Sprintf("%.1f %s", float64(n)/float64(u.size), u.name)
		}
	}
	return fmt.Sprintf("%d B", n)
}
