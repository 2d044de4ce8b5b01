package guestconfig

import (
	"reflect"
	"strings"
	"testing"
)

const fullConfig = `{"name":"hello","hostname":"hello-host",
 "app":{"path":"/app/hello","args":["a","b"],"env":["GREETING=hi"],"workdir":"/srv","uid":1000,"gid":100},
 "network":{"mode":"dhcp"},
 "disks":[{"device":"/dev/vda","mount":"/data/","fs":"ext4"},{"device":"/dev/vdb","mount":"/kv"}],
 "on_exit":"restart"}`

func TestParseAppliance(t *testing.T) {
	a, err := Parse([]byte(fullConfig))
	if err != nil {
		t.Fatal(err)
	}
	want := &Appliance{
		Name: "hello", Hostname: "hello-host",
		App:     App{Path: "/app/hello", Args: []string{"a", "b"}, Env: []string{"GREETING=hi"}, Workdir: "/srv", UID: 1000, GID: 100},
		Network: Network{Mode: NetworkDHCP},
		Disks:   []Disk{{Device: "/dev/vda", Mount: "/data", FS: "ext4"}, {Device: "/dev/vdb", Mount: "/kv", FS: "ext4"}},
		OnExit:  OnExitRestart,
	}
	if !reflect.DeepEqual(a, want) {
		t.Errorf("got %+v\nwant %+v", a, want)
	}

	// Defaults.
	a, err = Parse([]byte(`{"name":"x","app":{"path":"/x"}}`))
	if err != nil {
		t.Fatal(err)
	}
	if a.Hostname != "x" || a.OnExit != OnExitPowerOff || a.Network.Mode != NetworkNone || a.App.Workdir != "/" {
		t.Errorf("defaults: %+v", a)
	}

	// null is an absent key, as encoding/json writes nil slices.
	a, err = Parse([]byte(`{"name":"x","hostname":null,"app":{"path":"/x","args":null,"env":null,"uid":null},"disks":null,"network":null}`))
	if err != nil || a.Hostname != "x" || a.App.Args != nil || a.Disks != nil || a.Network.Mode != NetworkNone {
		t.Errorf("nulls: %+v, %v", a, err)
	}

	// A static network.
	a, err = Parse([]byte(`{"app":{"path":"/x"},"network":{"mode":"static","address":"10.0.2.15/24","gateway":"10.0.2.2","dns":["10.0.2.3"]}}`))
	if err != nil {
		t.Fatal(err)
	}
	s, err := a.Network.Static()
	if err != nil || s.Address.String() != "10.0.2.15/24" || s.Gateway.String() != "10.0.2.2" || len(s.DNS) != 1 {
		t.Errorf("static: %+v %v", s, err)
	}
}

func TestParseApplianceErrors(t *testing.T) {
	for _, c := range []struct{ json, want string }{
		{`{"app":{"path":"/x"},"bogus":1}`, `unknown field "bogus"`},
		{`{"app":{"path":"/x","user":"root"}}`, `unknown field "user"`},
		{`{"app":{"path":"/x"},"network":{"mode":"dhcp","ports":[80]}}`, `unknown field "ports"`},
		{`{"app":{"path":"/x"},"disks":[{"device":"/dev/vda","mount":"/d","ro":true}]}`, `unknown field "ro"`},
		{`{"app":{"path":"/x"}} {}`, "data after the JSON object"},
		{`{"app":{"path":"/x"}`, "unexpected EOF"},
		{`[]`, "cannot unmarshal array"},
		{`null`, "want an object, not null"},
		{`{}`, "app.path is missing"},
		{`{"app":{"path":"hello"}}`, `app.path "hello" is not absolute`},
		{`{"app":{"path":"/x","uid":-1}}`, "number -1 into Go struct field App.app.uid"},
		{`{"app":{"path":"/x","gid":1.5}}`, "Go struct field App.app.gid"},
		{`{"app":{"path":"/x","uid":4294967296}}`, "Go struct field App.app.uid"},
		{`{"app":{"path":"/x","args":"a b"}}`, "Go struct field App.app.args"},
		{`{"app":{"path":"/x","args":["a",1]}}`, "cannot unmarshal number into Go struct field App.app.args"},
		{`{"app":{"path":true}}`, "cannot unmarshal bool into Go struct field App.app.path"},
		{`{"app":"/x"}`, "Go struct field Appliance.app"},
		{`{"app":{"path":"/x","env":["NOVALUE"]}}`, `app.env entry "NOVALUE"`},
		{`{"app":{"path":"/x","workdir":"srv"}}`, "app.workdir"},
		{`{"app":{"path":"/x"},"on_exit":"reboot"}`, `on_exit "reboot"`},
		{`{"app":{"path":"/x"},"hostname":"bad name"}`, `hostname "bad name"`},
		{`{"app":{"path":"/x"},"network":{"mode":"user"}}`, `network.mode "user"`},
		{`{"app":{"path":"/x"},"network":{"mode":"static"}}`, "network.address is missing"},
		{`{"app":{"path":"/x"},"network":{"mode":"static","address":"10.0.2.15"}}`, "network.address"},
		{`{"app":{"path":"/x"},"network":{"mode":"static","address":"10.0.2.15/24","gateway":"x"}}`, "network.gateway"},
		{`{"app":{"path":"/x"},"network":{"mode":"dhcp","address":"10.0.2.15/24"}}`, "need network.mode"},
		{`{"app":{"path":"/x"},"disks":[{"device":"vda","mount":"/d"}]}`, "disks[0].device"},
		{`{"app":{"path":"/x"},"disks":[{"device":"/dev/vda","mount":"/"}]}`, "cannot mount over /"},
		{`{"app":{"path":"/x"},"disks":[{"device":"/dev/vda","mount":"/d"},{"device":"/dev/vdb","mount":"/d/"}]}`, "used twice"},
	} {
		_, err := Parse([]byte(c.json))
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), Path) {
			t.Errorf("%s: error %v, want %q", c.json, err, c.want)
		}
	}
}

// TestCheckLeavesAValidConfig checks that Check's defaults are themselves
// valid: a checked configuration passes Check again unchanged.
func TestCheckLeavesAValidConfig(t *testing.T) {
	a, err := Parse([]byte(fullConfig))
	if err != nil {
		t.Fatal(err)
	}
	b := *a
	b.Disks = append([]Disk(nil), a.Disks...)
	if err := b.Check(); err != nil || !reflect.DeepEqual(&b, a) {
		t.Errorf("second Check: %v\n got %+v\nwant %+v", err, b, a)
	}
}
