package distkernel

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// paragraph is one stanza of a Debian control file (deb822): fields keyed
// by lower-cased name. Multi-line values keep their continuation lines,
// separated by "\n", with the leading space of each removed.
type paragraph map[string]string

// get returns the value of the field name, case-insensitively.
func (p paragraph) get(name string) string { return p[strings.ToLower(name)] }

// maxLine bounds one line of a control file.
const maxLine = 1 << 20

// parseParagraphs reads deb822 stanzas from r and calls fn for each one, in
// order. Comment lines (starting with '#') are ignored.
func parseParagraphs(r io.Reader, fn func(paragraph) error) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), maxLine)
	cur := paragraph{}
	last := ""
	lineNo := 0
	flush := func() error {
		if len(cur) == 0 {
			return nil
		}
		p := cur
		cur, last = paragraph{}, ""
		return fn(p)
	}
	for sc.Scan() {
		lineNo++
		line := strings.TrimRight(sc.Text(), "\r")
		switch {
		case strings.TrimSpace(line) == "":
			if err := flush(); err != nil {
				return err
			}
		case strings.HasPrefix(line, "#"):
		case line[0] == ' ' || line[0] == '\t':
			if last == "" {
				return fmt.Errorf("line %d: continuation line before any field", lineNo)
			}
			if cur[last] == "" {
				cur[last] = line[1:]
			} else {
				cur[last] += "\n" + line[1:]
			}
		default:
			name, value, ok := strings.Cut(line, ":")
			if !ok || name == "" || strings.ContainsAny(name, " \t") {
				return fmt.Errorf("line %d: malformed field %q", lineNo, truncate(line, 60))
			}
			last = strings.ToLower(name)
			cur[last] = strings.TrimSpace(value)
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("reading line %d: %w", lineNo+1, err)
	}
	return flush()
}

// fileSum is the size and SHA-256 of one file, as a Release file or a
// Packages entry states it.
type fileSum struct {
	Size   int64
	SHA256 string
}

// release is a verified Release file of one distribution.
type release struct {
	// Dist is the directory under dists/ it was fetched from.
	Dist string
	// URL is where it was fetched from.
	URL string
	// Origin, Suite, Codename and Version are the fields of that name.
	Origin, Suite, Codename, Version string
	// Date is the Date field; ValidUntil the Valid-Until field, zero when
	// absent.
	Date, ValidUntil time.Time
	// AcquireByHash says the archive also serves each index under
	// by-hash/SHA256/<hash>.
	AcquireByHash bool
	// Files maps a path relative to the dist directory to its signed size
	// and SHA-256.
	Files map[string]fileSum
	// Signers describes the keys whose signatures verified.
	Signers []string
	// Text is the verified text itself.
	Text []byte
}

// describe returns a short human description, such as
// "Debian 13.7 (trixie, stable) of 2026-09-12 from dists/stable/InRelease".
func (r *release) describe() string {
	var b strings.Builder
	b.WriteString(r.Origin)
	if r.Version != "" {
		b.WriteString(" " + r.Version)
	}
	fmt.Fprintf(&b, " (%s", r.Codename)
	if r.Suite != "" && r.Suite != r.Codename {
		b.WriteString(", " + r.Suite)
	}
	b.WriteString(")")
	if !r.Date.IsZero() {
		b.WriteString(" of " + r.Date.UTC().Format(time.DateOnly))
	}
	if r.URL != "" {
		b.WriteString(" from " + r.URL)
	}
	return strings.TrimSpace(b.String())
}

var hexSHA256 = regexp.MustCompile(`^[0-9a-f]{64}$`)

// parseRelease parses the text of a Release file (the signed content of an
// InRelease, without its OpenPGP armour). Only the SHA256 checksums are
// kept: MD5Sum is not a security check.
func parseRelease(text []byte) (*release, error) {
	var first paragraph
	err := parseParagraphs(bytes.NewReader(text), func(p paragraph) error {
		if first == nil {
			first = p
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("parsing Release: %w", err)
	}
	if first == nil {
		return nil, fmt.Errorf("parsing Release: no fields")
	}
	r := &release{
		Origin:        first.get("Origin"),
		Suite:         first.get("Suite"),
		Codename:      first.get("Codename"),
		Version:       first.get("Version"),
		AcquireByHash: strings.EqualFold(first.get("Acquire-By-Hash"), "yes"),
		Files:         map[string]fileSum{},
		Text:          text,
	}
	if v := first.get("Date"); v != "" {
		if r.Date, err = parseReleaseDate(v); err != nil {
			return nil, fmt.Errorf("parsing Release Date: %w", err)
		}
	}
	if v := first.get("Valid-Until"); v != "" {
		if r.ValidUntil, err = parseReleaseDate(v); err != nil {
			return nil, fmt.Errorf("parsing Release Valid-Until: %w", err)
		}
	}
	sums := first.get("SHA256")
	if strings.TrimSpace(sums) == "" {
		return nil, fmt.Errorf("parsing Release: no SHA256 checksums")
	}
	for i, line := range strings.Split(sums, "\n") {
		if strings.TrimSpace(line) == "" {
			continue
		}
		f := strings.Fields(line)
		if len(f) != 3 {
			return nil, fmt.Errorf("parsing Release SHA256 line %d: want \"hash size path\", got %q", i+1, truncate(line, 80))
		}
		sum := strings.ToLower(f[0])
		if !hexSHA256.MatchString(sum) {
			return nil, fmt.Errorf("parsing Release SHA256 line %d: bad hash %q", i+1, f[0])
		}
		size, err := strconv.ParseInt(f[1], 10, 64)
		if err != nil || size < 0 {
			return nil, fmt.Errorf("parsing Release SHA256 line %d: bad size %q", i+1, f[1])
		}
		r.Files[f[2]] = fileSum{Size: size, SHA256: sum}
	}
	return r, nil
}

// parseReleaseDate parses a Release file date such as
// "Sat, 21 Nov 2026 09:15:44 UTC".
func parseReleaseDate(s string) (time.Time, error) {
	for _, layout := range []string{time.RFC1123, time.RFC1123Z, "Mon, 2 Jan 2006 15:04:05 MST", "Mon, 2 Jan 2006 15:04:05 -0700"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("unrecognised date %q", s)
}

// pkgEntry is one binary package of a Packages index.
type pkgEntry struct {
	Package, Version, Architecture string
	Depends                        string
	Filename                       string
	Size                           int64
	SHA256                         string
}

// parsePackages reads a Packages index and returns the entries for which
// keep (called with the package name) returns true.
func parsePackages(r io.Reader, keep func(name string) bool) ([]pkgEntry, error) {
	var out []pkgEntry
	err := parseParagraphs(r, func(p paragraph) error {
		name := p.get("Package")
		if name == "" || !keep(name) {
			return nil
		}
		e := pkgEntry{
			Package:      name,
			Version:      p.get("Version"),
			Architecture: p.get("Architecture"),
			Depends:      p.get("Depends"),
			Filename:     p.get("Filename"),
			SHA256:       strings.ToLower(p.get("SHA256")),
		}
		if s := p.get("Size"); s != "" {
			n, err := strconv.ParseInt(s, 10, 64)
			if err != nil || n < 0 {
				return fmt.Errorf("package %s: bad Size %q", name, s)
			}
			e.Size = n
		}
		out = append(out, e)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("parsing Packages: %w", err)
	}
	return out, nil
}

// dependency is one package relation such as "foo (= 1.0)".
type dependency struct {
	Name, Op, Version string
}

var relationRE = regexp.MustCompile(`^([a-z0-9][a-z0-9+.-]*)(?::[a-z0-9-]+)?\s*(?:\(\s*(<<|<=|=|>=|>>)\s*([^)\s]+)\s*\))?\s*(?:\[[^\]]*\])?\s*(?:<[^>]*>\s*)*$`)

// parseDepends parses a Depends field into its comma-separated groups of
// "|"-separated alternatives.
func parseDepends(s string) ([][]dependency, error) {
	var groups [][]dependency
	for _, group := range strings.Split(s, ",") {
		group = strings.TrimSpace(strings.ReplaceAll(group, "\n", " "))
		if group == "" {
			continue
		}
		var alts []dependency
		for _, alt := range strings.Split(group, "|") {
			m := relationRE.FindStringSubmatch(strings.TrimSpace(alt))
			if m == nil {
				return nil, fmt.Errorf("malformed relation %q", strings.TrimSpace(alt))
			}
			alts = append(alts, dependency{Name: m[1], Op: m[2], Version: m[3]})
		}
		groups = append(groups, alts)
	}
	return groups, nil
}

// truncate shortens s to at most n bytes for error messages.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
