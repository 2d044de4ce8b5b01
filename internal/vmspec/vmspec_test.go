package vmspec

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func example() Spec {
	return Spec{
		Version: Version,
		Boot: Boot{
			Kernel:  &File{Path: "/k/Image", SHA256: strings.Repeat("ab", 32)},
			Initrd:  &File{Path: "rel/initrd.cpio"},
			Cmdline: "console=ttyS0 quiet",
		},
		CPUs:   2,
		Memory: 256 << 20,
		Disks: []Disk{
			{Path: "/d/a,b.img", Overlay: "/d/a.ovl", Serial: "DATA"},
			{Path: "/d/ro.img", ReadOnly: true},
		},
		Net: []Net{
			{Mode: NetUser, Forwards: []Forward{{Protocol: "tcp", Host: "127.0.0.1:8080", GuestPort: 80}}},
			{Mode: NetTap, Tap: "tap0"},
		},
		Vsock:     &Vsock{CID: 5, Path: "/run/v.sock"},
		Entropy:   true,
		Console:   ConsoleVirtio,
		Limits:    Limits{MaxInstructions: 1e9},
		Appliance: &Appliance{Path: "/a/hello.appliance", Name: "hello"},
	}
}

func TestRoundTrip(t *testing.T) {
	s := example()
	if err := s.Validate(); err != nil {
		t.Fatal(err)
	}
	b, err := s.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"memory": "256M"`) {
		t.Errorf("memory is not written as a size:\n%s", b)
	}
	got, err := Decode(b)
	if err != nil {
		t.Fatalf("Decode: %v\n%s", err, b)
	}
	if !reflect.DeepEqual(got, s) {
		t.Errorf("round trip:\n got %+v\nwant %+v", got, s)
	}
	// A path with a comma is just a path.
	if got.Disks[0].Path != "/d/a,b.img" {
		t.Errorf("disk path %q", got.Disks[0].Path)
	}
}

func TestClone(t *testing.T) {
	s := example()
	c := s.Clone()
	c.Boot.Kernel.Path = "x"
	c.Disks[0].Path = "x"
	c.Net[0].Forwards[0].GuestPort = 1
	c.Vsock.Path = "x"
	c.Appliance.Name = "x"
	if !reflect.DeepEqual(s, example()) {
		t.Errorf("changing the clone changed the original: %+v", s)
	}
}

func TestPaths(t *testing.T) {
	s := example()
	var got []string
	s.Paths(func(p *string) {
		got = append(got, *p)
		if *p != "" {
			*p = "/x" + *p
		}
	})
	want := []string{"/k/Image", "rel/initrd.cpio", "/d/a,b.img", "/d/a.ovl", "/d/ro.img", "", "/run/v.sock", "/a/hello.appliance"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Paths saw %q, want %q", got, want)
	}
	if s.Disks[0].Path != "/x/d/a,b.img" || s.Disks[1].Overlay != "" || s.Vsock.Path != "/x/run/v.sock" {
		t.Errorf("Paths did not rewrite: %+v", s)
	}
}

func TestDecodeErrors(t *testing.T) {
	ex := example()
	valid, _ := ex.Marshal()
	for _, tc := range []struct {
		name, json, field, msg string
	}{
		{"empty", ``, "", "empty"},
		{"not json", `{`, "", "ends too soon"},
		{"no version", `{"cpus":1}`, "version", "missing"},
		{"other version", `{"version":2}`, "version", "reads VM spec version 1"},
		{"unknown field", `{"version":1,"cpu":1}`, "", `unknown field "cpu"`},
		{"type", `{"version":1,"cpus":"two"}`, "cpus", "a JSON string where a number belongs"},
		{"memory no unit", `{"version":1,"memory":"256"}`, "memory", "unit"},
		{"memory number", `{"version":1,"memory":268435456}`, "memory", "with a unit"},
		{"trailing", string(valid) + "{}", "", "trailing data"},
		{"no kernel", `{"version":1,"cpus":1,"memory":"64M","console":"uart"}`, "boot.kernel", "missing"},
		{"bare and kernel", `{"version":1,"boot":{"kernel":{"path":"k"},"bare":{"path":"b"}},"cpus":1,"memory":"64M","console":"uart"}`, "boot.bare", "alone"},
		{"bad digest", `{"version":1,"boot":{"kernel":{"path":"k","sha256":"xyz"}},"cpus":1,"memory":"64M","console":"uart"}`, "boot.kernel.sha256", "not a SHA-256"},
		{"cpus", `{"version":1,"boot":{"kernel":{"path":"k"}},"cpus":33,"memory":"64M","console":"uart"}`, "cpus", "out of range"},
		{"memory small", `{"version":1,"boot":{"kernel":{"path":"k"}},"cpus":1,"memory":"1M","console":"uart"}`, "memory", "too small"},
		{"console", `{"version":1,"boot":{"kernel":{"path":"k"}},"cpus":1,"memory":"64M","console":"tty"}`, "console", `"tty"`},
		{"disk path", `{"version":1,"boot":{"kernel":{"path":"k"}},"cpus":1,"memory":"64M","console":"uart","disks":[{"read_only":true}]}`, "disks[0].path", "missing"},
		{"serial", `{"version":1,"boot":{"kernel":{"path":"k"}},"cpus":1,"memory":"64M","console":"uart","disks":[{"path":"d","serial":"123456789012345678901"}]}`, "disks[0].serial", "longer"},
		{"net mode", `{"version":1,"boot":{"kernel":{"path":"k"}},"cpus":1,"memory":"64M","console":"uart","net":[{"mode":"bridge"}]}`, "net[0].mode", `"bridge"`},
		{"forward", `{"version":1,"boot":{"kernel":{"path":"k"}},"cpus":1,"memory":"64M","console":"uart","net":[{"mode":"user","forwards":[{"protocol":"tcp","host":"localhost:80","guest_port":80}]}]}`, "net[0].forwards[0]", "IP:PORT"},
		{"tap forward", `{"version":1,"boot":{"kernel":{"path":"k"}},"cpus":1,"memory":"64M","console":"uart","net":[{"mode":"tap","tap":"t","forwards":[{"protocol":"tcp","host":"127.0.0.1:80","guest_port":80}]}]}`, "net[0].forwards", "tap"},
		{"vsock cid", `{"version":1,"boot":{"kernel":{"path":"k"}},"cpus":1,"memory":"64M","console":"uart","vsock":{"path":"v","cid":2}}`, "vsock.cid", "context ID"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Decode([]byte(tc.json))
			if err == nil {
				t.Fatal("no error")
			}
			var fe *FieldError
			if tc.field != "" && (!errors.As(err, &fe) || fe.Field != tc.field) {
				t.Errorf("error %q does not name field %q", err, tc.field)
			}
			if !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("error %q does not say %q", err, tc.msg)
			}
		})
	}
}

// FuzzDecode checks that Decode never panics and that whatever it accepts
// is valid and survives a round trip.
func FuzzDecode(f *testing.F) {
	s := example()
	b, _ := s.Marshal()
	f.Add(b)
	f.Add([]byte(`{"version":1,"boot":{"bare":{"path":"b"}},"cpus":1,"memory":"64M","console":"uart"}`))
	f.Add([]byte(`{"version":1,"memory":"-1M"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := Decode(data)
		if err != nil {
			return
		}
		if err := s.Validate(); err != nil {
			t.Fatalf("Decode accepted an invalid spec: %v", err)
		}
		b, err := s.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		s2, err := Decode(b)
		if err != nil {
			t.Fatalf("re-decoding %s: %v", b, err)
		}
		if !reflect.DeepEqual(s, s2) {
			t.Fatalf("round trip changed the spec:\n%+v\n%+v", s, s2)
		}
	})
}
