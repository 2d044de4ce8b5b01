package protocol

import "testing"

func TestParse(t *testing.T) {
	console := "[    1.000000] virtio_blk virtio0: [vda] 32768 512-byte logical blocks\r\n" +
		"devcheck: disk manifest 3 files match\r\n" +
		"devcheck: disk ok\r\n" +
		"devcheck: rng 00ff\n" +
		"devcheck: rng ok\n" +
		"devcheck: fetch FAILED: no network: timed out\n" +
		ServeReady(80) + "\n" +
		"devcheck: FAILED: 1 of 4 steps\n"
	res, allOK := Parse(console)
	if allOK {
		t.Error("allOK with a failed step")
	}
	if r := res["disk"]; r == nil || !r.OK || len(r.Info) != 1 || r.Info[0] != "manifest 3 files match" {
		t.Errorf("disk %+v", r)
	}
	if r := res["rng"]; r == nil || !r.OK || r.Info[0] != "00ff" {
		t.Errorf("rng %+v", r)
	}
	if r := res["fetch"]; r == nil || r.OK || r.Err != "no network: timed out" {
		t.Errorf("fetch %+v", r)
	}
	if r := res["serve"]; r == nil || r.OK || r.Info[0] != "ready 80" {
		t.Errorf("serve %+v", r)
	}
	if _, ok := Parse("junk devcheck: all ok\r\n"); !ok {
		t.Error("all ok not seen")
	}
	if VsockReady(5) != "devcheck: vsock ready 5" {
		t.Error(VsockReady(5))
	}
}
