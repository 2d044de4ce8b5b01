// Package bytesize reads and writes the sizes Juice takes everywhere:
// --memory, disk create --size, and the memory and disk sizes of appliance
// specs and manifests. There is one syntax (docs/sizes.md):
//
//   - a whole number followed by a unit: B (bytes), K, M, G or T, which are
//     binary (K is 1024 bytes, M 1024², ...) and may also be written KiB,
//     MiB, GiB, TiB, in any case: 64M, 1G, 512KiB, 4096B;
//   - a plain number is refused, because QEMU's -m reads it as MiB and
//     qemu-img as bytes: write the unit;
//   - MB, GB and the like are refused, because they could mean 10⁶ or 2²⁰.
package bytesize

import (
	"fmt"
	"strconv"
	"strings"
)

// Binary units.
const (
	KiB int64 = 1 << 10
	MiB int64 = 1 << 20
	GiB int64 = 1 << 30
	TiB int64 = 1 << 40
)

// Parse parses a size in the syntax of the package comment.
func Parse(s string) (int64, error) {
	t := strings.TrimSpace(s)
	if t == "" {
		return 0, fmt.Errorf("size %q: empty (write e.g. 256M or 1G)", s)
	}
	i := 0
	for i < len(t) && t[i] >= '0' && t[i] <= '9' {
		i++
	}
	if i == 0 {
		return 0, fmt.Errorf("size %q: not a size (write a whole number and a unit, e.g. 256M or 1G)", s)
	}
	num, unit := t[:i], strings.ToUpper(strings.TrimSpace(t[i:]))
	var mult int64
	switch unit {
	case "":
		return 0, fmt.Errorf("size %q has no unit: write %sM, %sK or %sB (units are binary: K, M, G, T)", s, num, num, num)
	case "B":
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
		return 0, fmt.Errorf("size %q: %s is ambiguous (10⁶ or 2²⁰?): write %s or %siB, which are binary", s, unit, unit[:1], unit[:1])
	default:
		return 0, fmt.Errorf("size %q: unknown unit %q (want B, K, M, G or T, or KiB, MiB, GiB, TiB)", s, t[i:])
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n > (1<<63-1)/mult {
		return 0, fmt.Errorf("size %q: too large", s)
	}
	return n * mult, nil
}

// Format formats n bytes for people: exact multiples of a binary unit as
// "64 MiB", other sizes of at least 1 KiB with one decimal ("1.5 MiB"),
// and small sizes in bytes ("512 B").
func Format(n int64) string {
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

// String formats n bytes in the syntax Parse reads, in the largest unit
// that divides it exactly: "256M", "1G", "4097B".
func String(n int64) string {
	for _, u := range []struct {
		suffix string
		size   int64
	}{{"T", TiB}, {"G", GiB}, {"M", MiB}, {"K", KiB}} {
		if n != 0 && n%u.size == 0 {
			return strconv.FormatInt(n/u.size, 10) + u.suffix
		}
	}
	return strconv.FormatInt(n, 10) + "B"
}
