package pid1

import (
	"os"
	"path/filepath"
	"testing"
)

func TestModulesDep(t *testing.T) {
	dir := t.TempDir()
	dep := "kernel/fs/ext4/ext4.ko.xz: kernel/fs/jbd2/jbd2.ko.xz kernel/fs/mbcache.ko.xz kernel/lib/crc16.ko.xz\n" +
		"kernel/fs/jbd2/jbd2.ko.xz:\nkernel/drivers/virtio/virtio_mmio.ko.xz:\nkernel/net/vmw-vsock.ko:\n"
	if err := os.WriteFile(filepath.Join(dir, "modules.dep"), []byte(dep), 0o644); err != nil {
		t.Fatal(err)
	}
	md, err := readModulesDep(filepath.Join(dir, "modules.dep"))
	if err != nil {
		t.Fatal(err)
	}
	if md.path["ext4"] != "kernel/fs/ext4/ext4.ko.xz" || md.path["vmw_vsock"] != "kernel/net/vmw-vsock.ko" {
		t.Fatalf("paths %v", md.path)
	}
	if got := md.deps["kernel/fs/ext4/ext4.ko.xz"]; len(got) != 3 {
		t.Fatalf("deps %v", got)
	}
	if err := LoadModules(dir, []string{"no_such_module"}); err == nil {
		t.Fatal("unknown module accepted")
	}
	o := ParseCmdline("console=ttyS0 juice.modules=virtio_mmio,,ext4 quiet")
	if len(o.Modules) != 2 || o.Modules[0] != "virtio_mmio" || o.Modules[1] != "ext4" || len(o.Unknown) != 0 {
		t.Fatalf("options %+v", o)
	}
}
