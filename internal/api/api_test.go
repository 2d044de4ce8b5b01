package api

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/juicevm/juice/internal/machine"
	"github.com/juicevm/juice/internal/testenv"
	"github.com/juicevm/juice/internal/vmm"
	"github.com/juicevm/juice/internal/vmspec"
)

// spinVM is a VM whose kernel loops forever.
func spinVM(t testing.TB) *vmm.VM {
	b := testenv.SpinImage()
	k := filepath.Join(t.TempDir(), "spin")
	if err := os.WriteFile(k, b, 0o644); err != nil {
		t.Fatal(err)
	}
	vm, err := vmm.New(vmspec.Spec{Version: vmspec.Version, Boot: vmspec.Boot{Kernel: &vmspec.File{Path: k}}, CPUs: 1, Memory: 16 << 20, Console: vmspec.ConsoleUART}, vmm.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { vm.Close() })
	return vm
}

func TestAPIOverAUnixSocket(t *testing.T) {
	vm := spinVM(t)
	sock := filepath.Join(t.TempDir(), "api.sock")
	srv, err := Serve(sock, Handler(vm, nil))
	if err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(sock); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("socket mode: %v %v", st.Mode(), err)
	}
	if _, err := Serve(sock, Handler(vm, nil)); err == nil || !strings.Contains(err.Error(), "in use") {
		t.Fatalf("a second server on a live socket: %v", err)
	}
	c := NewClient(sock)
	ctx := context.Background()
	if err := c.Do(ctx, "PATCH", "/vm", VMState{State: "Paused"}, nil); err == nil || !strings.Contains(err.Error(), "not running") {
		t.Fatalf("pausing before the run: %v", err)
	}
	ran := make(chan machine.Exit, 1)
	go func() {
		e, _ := vm.Run(ctx)
		ran <- e
	}()
	var info vmm.Info
	for info.State != vmm.StateRunning {
		if err := c.Do(ctx, "GET", "/vm", nil, &info); err != nil {
			t.Fatal(err)
		}
	}
	if info.Spec.CPUs != 1 || info.Spec.Boot.Kernel == nil {
		t.Errorf("GET /vm spec: %+v", info.Spec)
	}
	if err := c.Do(ctx, "PATCH", "/vm", VMState{State: "Paused"}, nil); err != nil {
		t.Fatal(err)
	}
	var a, b vmm.Info
	c.Do(ctx, "GET", "/vm", nil, &a)
	time.Sleep(10 * time.Millisecond)
	c.Do(ctx, "GET", "/vm", nil, &b)
	if a.State != vmm.StatePaused || a.Instructions == 0 || a.Instructions != b.Instructions {
		t.Fatalf("paused: %+v then %+v", a, b)
	}
	if err := c.Do(ctx, "PATCH", "/vm", VMState{State: "Resumed"}, nil); err != nil {
		t.Fatal(err)
	}
	if err := c.Do(ctx, "PUT", "/actions", Action{ActionType: "Stop"}, nil); err != nil {
		t.Fatal(err)
	}
	if e := <-ran; e.Kind != machine.ExitCanceled {
		t.Fatalf("exit %v", e.Kind)
	}
	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(sock); !os.IsNotExist(err) {
		t.Errorf("the socket is left after Close: %v", err)
	}
}

func TestAPIBadRequests(t *testing.T) {
	h := Handler(spinVM(t), nil)
	for _, tc := range []struct {
		method, path, body string
		status             int
		want               string
	}{
		{"GET", "/nothing", "", 404, "no resource GET /nothing"},
		{"DELETE", "/vm", "", 404, "no resource"},
		{"PATCH", "/vm", "", 400, "no body"},
		{"PATCH", "/vm", "{", 400, "bad body"},
		{"PATCH", "/vm", `{"state":"Paused"} {}`, 400, "trailing data"},
		{"PATCH", "/vm", `{"state":"Paused","x":1}`, 400, `unknown field "x"`},
		{"PATCH", "/vm", `{"state":7}`, 400, "bad body"},
		{"PATCH", "/vm", `{"state":"Asleep"}`, 400, `field "state": "Asleep"`},
		{"PATCH", "/vm", `{"state":"Paused","pad":"` + strings.Repeat("x", MaxBody) + `"}`, 413, "larger than"},
		{"PUT", "/actions", `{"action_type":"Reboot"}`, 400, `field "action_type": "Reboot"`},
		{"PUT", "/actions", `{"action_type":"Stop"}`, 409, "not running"},
	} {
		r := httptest.NewRequest(tc.method, tc.path, strings.NewReader(tc.body))
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		var e Error
		json.Unmarshal(w.Body.Bytes(), &e)
		if w.Code != tc.status || !strings.Contains(e.FaultMessage, tc.want) || w.Header().Get("Content-Type") != "application/json" {
			t.Errorf("%s %s %.40q: %d %s, want %d and %q", tc.method, tc.path, tc.body, w.Code, w.Body, tc.status, tc.want)
		}
	}
}

// FuzzHandler sends arbitrary bodies to the commands: the answer is a
// status and a JSON body, never a panic.
func FuzzHandler(f *testing.F) {
	f.Add("PATCH", "/vm", []byte(`{"state":"Paused"}`))
	f.Add("PUT", "/actions", []byte(`{"action_type":"Stop"}`))
	f.Add("GET", "/vm", []byte(nil))
	f.Add("PUT", "/snapshot/create", []byte(`{"snapshot_path":"/tmp/x"}`))
	h := Handler(spinVM(f), nil)
	f.Fuzz(func(t *testing.T, method, path string, body []byte) {
		r, err := http.NewRequest(method, "http://juice/"+strings.TrimPrefix(path, "/"), strings.NewReader(string(body)))
		if err != nil {
			return
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code < 200 || w.Code > 599 {
			t.Fatalf("status %d", w.Code)
		}
	})
}
