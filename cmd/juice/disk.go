package main

import (
	"os"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/juicevm/juice/internal/bytesize"
	"github.com/juicevm/juice/internal/diskimage"
)

func newDiskCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "disk",
		Short: "Make and manage disk images",
	}
	var size, from, label, uuid string
	var force bool
	create := &cobra.Command{
		Use:   "create --size SIZE [--from DIR] FILE",
		Short: "Make an ext4 disk image, optionally filled from a host folder (reproducibly)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			n, err := bytesize.Parse(size)
			if err != nil {
				return err
			}
			opts := diskimage.Options{Size: n, From: from, Label: label, UUID: uuid, Force: force}
			if term.IsTerminal(int(os.Stderr.Fd())) { // progress on a terminal only
				opts.Progress, opts.ShowProgress = os.Stderr, true
			}
			return diskimage.Create(cmd.Context(), args[0], opts)
		},
	}
	fl := create.Flags()
	fl.StringVar(&size, "size", "", "image `SIZE` with a binary unit (e.g. 64M, 1G; see docs/sizes.md; required)")
	fl.StringVar(&from, "from", "", "fill the file system from host folder `DIR`")
	fl.StringVar(&label, "label", "", "file system `LABEL` (at most 16 bytes)")
	fl.StringVar(&uuid, "uuid", "", "file system `UUID` (default: derived from the contents)")
	fl.BoolVar(&force, "force", false, "replace FILE if it exists")
	create.MarkFlagRequired("size")
	cmd.AddCommand(create)
	return cmd
}
