package machine_test

import (
	"testing"

	"github.com/juicevm/juice/internal/machine"
	"github.com/juicevm/juice/internal/virtio/vsock"
	"github.com/juicevm/juice/internal/vmm"
	"github.com/juicevm/juice/internal/vmspec"
)

// hostSides are the host resources a test machine's devices use; attach
// opens them, as the VMM does, into a copy of a configuration.
type hostSides struct {
	disks []vmspec.Disk
	nets  []vmspec.Net
	vsock string // the Unix socket, if any
}

func (h hostSides) attach(t testing.TB, cfg machine.Config) machine.Config {
	t.Helper()
	cfg.Disks, cfg.Net, cfg.Vsock = nil, nil, nil
	for i, d := range h.disks {
		dev, err := vmm.OpenDisk(d, i, nil, cfg.Script != nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		cfg.Disks = append(cfg.Disks, dev)
	}
	for _, n := range h.nets {
		if cfg.Script != nil {
			cfg.Net = append(cfg.Net, nil)
			continue
		}
		be, err := vmm.OpenNet(n, nil)
		if err != nil {
			t.Fatal(err)
		}
		cfg.Net = append(cfg.Net, be)
	}
	if h.vsock != "" {
		cfg.Vsock = &machine.VsockConfig{}
		if cfg.Script == nil {
			host, err := vsock.NewUnixHost(vsock.Config{UnixPath: h.vsock})
			if err != nil {
				t.Fatal(err)
			}
			cfg.Vsock.Host = host
		}
	}
	return cfg
}
