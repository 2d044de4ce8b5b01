package main

import (
	"encoding/json"
	"fmt"
	"runtime"
	"runtime/debug"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/juicevm/juice/internal/appliance"
	"github.com/juicevm/juice/internal/guestinit"
	"github.com/juicevm/juice/internal/migration"
	"github.com/juicevm/juice/internal/replay"
	"github.com/juicevm/juice/internal/snapshot"
	"github.com/juicevm/juice/internal/virtio/blk"
	"github.com/juicevm/juice/internal/vmspec"
)

// version, commit and modified are set by make build: -ldflags "-X
// main.version=$(git describe --always --dirty) -X main.commit=... -X
// main.modified=true". See buildVersion and currentVersion.
var version, commit, modified string

// juiceVersion names this build in recordings and in juice version.
var juiceVersion = buildVersion()

// fileFormat is a kind of file juice reads and writes, with the version of
// its format.
type fileFormat struct {
	Name    string `json:"name"`
	Version int    `json:"version"`
	Files   string `json:"files"`
}

// fileFormats lists every versioned file format juice reads and writes.
// Add a line here for a new one.
var fileFormats = []fileFormat{
	{"recording", replay.FormatVersion, "FILE.jrr (juice record [--from-snapshot], juice replay); reads versions 3 on"},
	{"checkpoints", replay.CheckpointFormatVersion, "FILE.jrr.ckpt (juice replay --until)"},
	{"disk overlay", blk.OverlayFormatVersion, "FILE.jrr.DISK.ovl (juice record, juice replay)"},
	{"appliance manifest", appliance.ManifestFormat, "DIR/manifest.json (juice build, juice run DIR)"},
	{"VM spec", vmspec.Version, "the \"config\" of a recording's header (docs/vm-spec.md)"},
	{"snapshot", snapshot.FormatVersion, "DIR/snapshot.json and its folder (juice snapshot, juice replay --snapshot, juice restore, juice record --from-snapshot; docs/snapshots.md)"},
	{"migration protocol", migration.Version, "the stream between juice migrate and juice receive (docs/migration.md)"},
}

// versionInfo is what juice version prints.
type versionInfo struct {
	Version  string       `json:"version"`
	Commit   string       `json:"commit,omitempty"`
	Modified bool         `json:"modified,omitempty"`
	Go       string       `json:"go"`
	Platform string       `json:"platform"`
	Init     string       `json:"init"`
	Formats  []fileFormat `json:"formats"`
}

// buildVersion is the version of this juice: the main module's version
// when it was installed with go install MODULE@VERSION, else the one make
// build set (git describe), else "devel".
func buildVersion() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "devel"
}

// currentVersion describes this juice.
func currentVersion() versionInfo {
	v := versionInfo{
		Version:  juiceVersion,
		Go:       runtime.Version(),
		Platform: runtime.GOOS + "/" + runtime.GOARCH,
		Init:     string(guestinit.Which()),
		Formats:  fileFormats,
	}
	// The commit Go stamped (go install, go build in a git clone), else
	// the one make build gave.
	v.Commit, v.Modified = commit, modified == "true"
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				v.Commit = s.Value
			case "vcs.modified":
				v.Modified = s.Value == "true"
			}
		}
	}
	return v
}

func newVersionCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "version [--json]",
		Short: "Print juice's version, where its guest init comes from, and its file formats",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			v := currentVersion()
			w := cmd.OutOrStdout()
			if asJSON {
				b, err := json.MarshalIndent(v, "", "  ")
				if err != nil {
					return err
				}
				_, err = fmt.Fprintf(w, "%s\n", b)
				return err
			}
			commit := v.Commit
			switch {
			case commit == "":
				commit = "unknown (built without VCS information)"
			case v.Modified:
				commit += " (modified)"
			}
			tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
			fmt.Fprintf(tw, "juice\t%s\n", v.Version)
			fmt.Fprintf(tw, "commit\t%s\n", commit)
			fmt.Fprintf(tw, "go\t%s %s\n", v.Go, v.Platform)
			fmt.Fprintf(tw, "init\t%s\n", guestinit.Source(v.Init).Describe())
			if err := tw.Flush(); err != nil {
				return err
			}
			fmt.Fprintf(w, "file formats:\n")
			tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
			for _, f := range v.Formats {
				fmt.Fprintf(tw, "  %s\t%d\t%s\n", f.Name, f.Version, f.Files)
			}
			return tw.Flush()
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print it as JSON")
	return cmd
}
