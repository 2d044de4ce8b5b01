package distkernel

import (
	"strings"
)

// compareVersions compares two Debian package versions
// ([epoch:]upstream[-revision]) the way dpkg does, returning -1, 0 or 1.
func compareVersions(a, b string) int {
	ea, ua, ra := splitVersion(a)
	eb, ub, rb := splitVersion(b)
	if c := compareNumeric(ea, eb); c != 0 {
		return c
	}
	if c := compareFragment(ua, ub); c != 0 {
		return c
	}
	return compareFragment(ra, rb)
}

// splitVersion splits a version into epoch, upstream version and Debian
// revision. A missing epoch is "0"; a missing revision is "".
func splitVersion(v string) (epoch, upstream, revision string) {
	epoch = "0"
	if e, rest, ok := strings.Cut(v, ":"); ok && e != "" && isDigits(e) {
		epoch, v = e, rest
	}
	if i := strings.LastIndexByte(v, '-'); i >= 0 {
		return epoch, v[:i], v[i+1:]
	}
	return epoch, v, ""
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// compareNumeric compares two strings of decimal digits by value, without
// limits on their length.
func compareNumeric(a, b string) int {
	a = strings.TrimLeft(a, "0")
	b = strings.TrimLeft(b, "0")
	if len(a) != len(b) {
		if len(a) < len(b) {
			return -1
		}
		return 1
	}
	return strings.Compare(a, b)
}

// charOrder gives the sort weight of one byte of a non-digit run: '~' sorts
// before everything, even the end of the string; letters sort before
// other characters.
func charOrder(c byte, present bool) int {
	switch {
	case !present:
		return 0
	case c == '~':
		return -1
	case c >= '0' && c <= '9':
		return 0
	case (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'):
		return int(c)
	default:
		return int(c) + 256
	}
}

// compareFragment compares upstream versions or revisions: alternating runs
// of non-digits (compared with charOrder) and digits (compared by value).
func compareFragment(a, b string) int {
	i, j := 0, 0
	for i < len(a) || j < len(b) {
		// Non-digit runs.
		for (i < len(a) && !isDigit(a[i])) || (j < len(b) && !isDigit(b[j])) {
			var ca, cb byte
			pa, pb := i < len(a) && !isDigit(a[i]), j < len(b) && !isDigit(b[j])
			if pa {
				ca = a[i]
			}
			if pb {
				cb = b[j]
			}
			if oa, ob := charOrder(ca, pa), charOrder(cb, pb); oa != ob {
				if oa < ob {
					return -1
				}
				return 1
			}
			if pa {
				i++
			}
			if pb {
				j++
			}
		}
		// Digit runs.
		si := i
		for i < len(a) && isDigit(a[i]) {
			i++
		}
		sj := j
		for j < len(b) && isDigit(b[j]) {
			j++
		}
		if c := compareNumeric(a[si:i], b[sj:j]); c != 0 {
			return c
		}
	}
	return 0
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }
