// Package api is Juice's HTTP/JSON control API for a virtual machine, in
// Firecracker's style (docs/api.md, docs/api.yaml): a handler serves the
// resources of one VM — `juice run --api SOCK` serves it on a Unix socket,
// and the daemon serves the same handler under each of its VMs — and a
// client speaks it for the CLI (juice pause, juice resume).
package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/juicevm/juice/internal/snapshot"
	"github.com/juicevm/juice/internal/unixsock"
	"github.com/juicevm/juice/internal/vmm"
)

// MaxBody bounds a request body; a larger one is refused.
const MaxBody = 64 << 10

// VM is what the handler controls: a *vmm.VM.
type VM interface {
	Info() vmm.Info
	Pause(context.Context) error
	Resume(context.Context) error
	Stop(context.Context) error
	Snapshot(ctx context.Context, dir string, o vmm.SnapshotOptions) (vmm.Snapshotted, error)
	Migrate(ctx context.Context, o vmm.MigrateOptions) (vmm.Migrated, error)
}

// Migrate is the body of PUT /migrate.
type Migrate struct {
	// Destination is where juice receive listens: HOST:PORT or unix:PATH.
	Destination string `json:"destination"`
	// Token is the one juice receive printed or was given.
	Token string `json:"token"`
	// DowntimeMS is the budget for the paused stretch in milliseconds
	// (default 300).
	DowntimeMS float64 `json:"downtime_ms,omitempty"`
	// TimeoutMS gives up pre-copy after that many milliseconds (default
	// 60000).
	TimeoutMS float64 `json:"timeout_ms,omitempty"`
}

// SnapshotCreate is the body of PUT /snapshot/create.
type SnapshotCreate struct {
	// SnapshotPath is the folder to write, which must not exist.
	SnapshotPath string `json:"snapshot_path"`
	// SnapshotType is "Full" (the default) or "Diff".
	SnapshotType string `json:"snapshot_type,omitempty"`
	// Stop stops the VM once the snapshot is written.
	Stop bool `json:"stop,omitempty"`
}

// Error is the body of every error response.
type Error struct {
	FaultMessage string `json:"fault_message"`
}

// VMState is the body of PATCH /vm.
type VMState struct {
	// State is "Paused" or "Resumed".
	State string `json:"state"`
}

// Action is the body of PUT /actions.
type Action struct {
	// ActionType is "Stop".
	ActionType string `json:"action_type"`
}

// Handler serves the API of vm.
func Handler(vm VM, log *slog.Logger) http.Handler {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /vm", func(w http.ResponseWriter, r *http.Request) {
		reply(w, http.StatusOK, vm.Info())
	})
	mux.HandleFunc("PATCH /vm", func(w http.ResponseWriter, r *http.Request) {
		var body VMState
		if !decode(w, r, &body) {
			return
		}
		var err error
		switch body.State {
		case "Paused":
			err = vm.Pause(r.Context())
		case "Resumed":
			err = vm.Resume(r.Context())
		default:
			fault(w, http.StatusBadRequest, fmt.Sprintf("field \"state\": %q (want \"Paused\" or \"Resumed\")", body.State))
			return
		}
		done(w, log, "PATCH /vm "+body.State, err)
	})
	mux.HandleFunc("PUT /actions", func(w http.ResponseWriter, r *http.Request) {
		var body Action
		if !decode(w, r, &body) {
			return
		}
		if body.ActionType != "Stop" {
			fault(w, http.StatusBadRequest, fmt.Sprintf("field \"action_type\": %q (want \"Stop\")", body.ActionType))
			return
		}
		done(w, log, "PUT /actions Stop", vm.Stop(r.Context()))
	})
	mux.HandleFunc("PUT /snapshot/create", func(w http.ResponseWriter, r *http.Request) {
		var body SnapshotCreate
		if !decode(w, r, &body) {
			return
		}
		o := vmm.SnapshotOptions{Stop: body.Stop}
		switch body.SnapshotType {
		case "", "Full":
		case "Diff":
			o.Diff = true
		default:
			fault(w, http.StatusBadRequest, fmt.Sprintf("field \"snapshot_type\": %q (want \"Full\" or \"Diff\")", body.SnapshotType))
			return
		}
		if body.SnapshotPath == "" {
			fault(w, http.StatusBadRequest, "field \"snapshot_path\": empty (name the folder to write)")
			return
		}
		s, err := vm.Snapshot(r.Context(), body.SnapshotPath, o)
		if err != nil {
			done(w, log, "PUT /snapshot/create", err)
			return
		}
		reply(w, http.StatusOK, s)
	})
	mux.HandleFunc("PUT /migrate", func(w http.ResponseWriter, r *http.Request) {
		var body Migrate
		if !decode(w, r, &body) {
			return
		}
		if body.Destination == "" {
			fault(w, http.StatusBadRequest, "field \"destination\": empty (HOST:PORT or unix:PATH)")
			return
		}
		if !(body.DowntimeMS >= 0 && body.TimeoutMS >= 0 && body.DowntimeMS <= 3600_000 && body.TimeoutMS <= 24*3600_000) {
			fault(w, http.StatusBadRequest, "fields \"downtime_ms\" and \"timeout_ms\": out of range")
			return
		}
		m, err := vm.Migrate(r.Context(), vmm.MigrateOptions{To: body.Destination, Token: body.Token,
			Downtime: time.Duration(body.DowntimeMS * float64(time.Millisecond)), Timeout: time.Duration(body.TimeoutMS * float64(time.Millisecond))})
		if err != nil {
			done(w, log, "PUT /migrate", err)
			return
		}
		reply(w, http.StatusOK, m)
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		fault(w, http.StatusNotFound, fmt.Sprintf("no resource %s %s (see docs/api.md)", r.Method, r.URL.Path))
	})
	return mux
}

// done answers a command: 204, or the error.
func done(w http.ResponseWriter, log *slog.Logger, what string, err error) {
	switch {
	case err == nil:
		w.WriteHeader(http.StatusNoContent)
	case errors.Is(err, vmm.ErrNotRunning), errors.Is(err, vmm.ErrNoParent), errors.Is(err, snapshot.ErrExists):
		fault(w, http.StatusConflict, err.Error())
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		fault(w, http.StatusServiceUnavailable, "the request ended before the VM did: "+err.Error())
	default:
		log.Warn("api: command failed", "command", what, "err", err)
		fault(w, http.StatusInternalServerError, err.Error())
	}
}

// decode reads a request's JSON body strictly: bounded, one object, no
// unknown fields (whatever its Content-Type says: curl -d sends JSON
// labelled as a form). It answers 400 and returns false when the body is bad.
func decode(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, MaxBody))
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if err == nil {
		if _, terr := dec.Token(); terr != io.EOF {
			err = errors.New("trailing data after the JSON object")
		}
	}
	if err != nil {
		var mbe *http.MaxBytesError
		switch {
		case errors.As(err, &mbe):
			fault(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("the body is larger than %d bytes", MaxBody))
		case errors.Is(err, io.EOF):
			fault(w, http.StatusBadRequest, "no body: want a JSON object")
		default:
			fault(w, http.StatusBadRequest, "bad body: "+strings.TrimPrefix(err.Error(), "json: "))
		}
		return false
	}
	return true
}

func reply(w http.ResponseWriter, status int, v any) {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"fault_message":"encoding the reply failed"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}

func fault(w http.ResponseWriter, status int, msg string) {
	reply(w, status, Error{FaultMessage: msg})
}

// Server serves a handler on a Unix socket.
type Server struct {
	ln  *unixsock.Listener
	srv *http.Server
	err chan error
}

// Serve serves h on the Unix socket path (mode 0600: the API controls the
// VM). A stale socket there is replaced; a live one, or a file that is not
// a socket, is refused.
func Serve(path string, h http.Handler) (*Server, error) {
	ln, err := unixsock.Listen(path, 0o600)
	if err != nil {
		return nil, fmt.Errorf("api socket %w", err)
	}
	s := &Server{ln: ln, err: make(chan error, 1),
		srv: &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, MaxHeaderBytes: 16 << 10}}
	go func() { s.err <- s.srv.Serve(ln) }()
	return s, nil
}

// Close stops the server, waiting a little for requests in flight (a
// Stop's reply), and removes its socket.
func (s *Server) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	err := s.srv.Shutdown(ctx)
	s.ln.Close()
	if serr := <-s.err; !errors.Is(serr, http.ErrServerClosed) && err == nil {
		err = serr
	}
	return err
}

// Client speaks the API over a Unix socket.
type Client struct {
	path string
	http *http.Client
}

// NewClient returns a client of the API on the Unix socket path.
func NewClient(path string) *Client {
	return &Client{path: path, http: &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", path)
		},
	}}}
}

// Do sends a request with body (nil: none) and decodes a JSON reply into
// out (nil: ignored). An error reply becomes an error with its message.
func (c *Client) Do(ctx context.Context, method, resource string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, "http://juice"+resource, rd)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("api %s: %w", c.path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return fmt.Errorf("api %s: %w", c.path, err)
	}
	if resp.StatusCode >= 300 {
		var e Error
		if json.Unmarshal(data, &e) == nil && e.FaultMessage != "" {
			return fmt.Errorf("api %s: %s %s: %s", c.path, method, resource, e.FaultMessage)
		}
		return fmt.Errorf("api %s: %s %s: %s", c.path, method, resource, resp.Status)
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			return fmt.Errorf("api %s: the reply to %s %s: %w", c.path, method, resource, err)
		}
	}
	return nil
}
