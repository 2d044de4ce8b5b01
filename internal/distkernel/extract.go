package distkernel

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
)

// riscvImageMagic is the magic of a RISC-V Linux Image header, at
// ImageMagicOffset (the "magic2" field of Documentation/arch/riscv/boot-image-header.rst).
const riscvImageMagic = "RSC\x05"

// ImageMagicOffset is where riscvImageMagic sits in a RISC-V Image.
const ImageMagicOffset = 56

// extracted describes what extractDeb found in a kernel package.
type extracted struct {
	// Release is the kernel release (uname -r), from boot/vmlinu?-<release>.
	Release string
	// RawImageName is the package's file name of the kernel, such as
	// "boot/vmlinux-6.12.107+deb13-riscv64".
	RawImageName string
	// Modules counts the module files (*.ko, *.ko.xz, ...) extracted.
	Modules int
	// ModulesPrefix is where the package keeps the modules:
	// "usr/lib/modules" (merged /usr) or "lib/modules".
	ModulesPrefix string
}

// extractDeb unpacks the kernel image and the modules tree of a kernel
// package into dst: the kernel to dst/vmlinuz.raw (as packaged), its config
// to dst/config, and <prefix>/modules/<release>/ to dst/lib/modules/<release>/.
// It uses dpkg-deb for the .deb container and reads the data tar itself, so
// that each path is checked before anything is written.
func extractDeb(ctx context.Context, dpkgDeb, deb, dst string) (*extracted, error) {
	cmd := exec.CommandContext(ctx, dpkgDeb, "--fsys-tarfile", deb)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("extracting %s: %w", deb, err)
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("extracting %s: starting dpkg-deb: %w", deb, err)
	}
	ex, rerr := readKernelTar(stdout, dst)
	if rerr != nil {
		// Drain so that dpkg-deb does not block on a full pipe.
		_, _ = io.Copy(io.Discard, stdout)
	}
	werr := cmd.Wait()
	if rerr != nil {
		return nil, fmt.Errorf("extracting %s: %w", deb, rerr)
	}
	if werr != nil {
		return nil, fmt.Errorf("extracting %s: dpkg-deb: %w: %s", deb, werr, lastLines(stderr.String(), 3))
	}
	return ex, nil
}

// readKernelTar reads a kernel package's data tar; see extractDeb.
func readKernelTar(r io.Reader, dst string) (*extracted, error) {
	ex := &extracted{}
	var modTrees []string
	tr := tar.NewReader(r)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("reading the data archive: %w", err)
		}
		name := strings.TrimSuffix(strings.TrimPrefix(hdr.Name, "./"), "/")
		if name == "" || name == "." {
			continue
		}
		if path.IsAbs(name) || path.Clean(name) != name || name == ".." || strings.HasPrefix(name, "../") {
			return nil, fmt.Errorf("refusing archive path %q", hdr.Name)
		}
		switch {
		case isKernelImageName(name):
			if hdr.Typeflag != tar.TypeReg {
				return nil, fmt.Errorf("%s is not a regular file", name)
			}
			if ex.RawImageName != "" {
				return nil, fmt.Errorf("two kernel images: %s and %s", ex.RawImageName, name)
			}
			ex.RawImageName = name
			ex.Release = strings.TrimPrefix(path.Base(name)[len("vmlinux"):], "-")
			if err := writeFile(filepath.Join(dst, "vmlinuz.raw"), tr, 0o644); err != nil {
				return nil, err
			}
		case strings.HasPrefix(name, "boot/config-"):
			if hdr.Typeflag == tar.TypeReg {
				if err := writeFile(filepath.Join(dst, "config"), tr, 0o644); err != nil {
					return nil, err
				}
			}
		default:
			prefix, rest, ok := modulesPath(name)
			if !ok {
				continue
			}
			if ex.ModulesPrefix == "" {
				ex.ModulesPrefix = prefix
			}
			if rest == "" {
				continue
			}
			tree, _, _ := strings.Cut(rest, "/")
			if !contains(modTrees, tree) {
				modTrees = append(modTrees, tree)
			}
			target := filepath.Join(dst, "lib", "modules", filepath.FromSlash(rest))
			switch hdr.Typeflag {
			case tar.TypeDir:
				if err := os.MkdirAll(target, 0o755); err != nil {
					return nil, fmt.Errorf("creating %s: %w", target, err)
				}
			case tar.TypeReg:
				if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
					return nil, fmt.Errorf("creating %s: %w", filepath.Dir(target), err)
				}
				if err := writeFile(target, tr, fs.FileMode(hdr.Mode)&0o755|0o644); err != nil {
					return nil, err
				}
				if isModuleFile(rest) {
					ex.Modules++
				}
			case tar.TypeSymlink:
				// Only links that stay inside the modules tree are kept
				// (Debian ships none; "build" and "source" links would
				// point outside and are dropped).
				if path.IsAbs(hdr.Linkname) || !strings.HasPrefix(path.Join(path.Dir(rest), hdr.Linkname), tree+"/") {
					continue
				}
				if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
					return nil, fmt.Errorf("creating %s: %w", filepath.Dir(target), err)
				}
				if err := os.Symlink(hdr.Linkname, target); err != nil {
					return nil, fmt.Errorf("creating %s: %w", target, err)
				}
			}
		}
	}
	if ex.RawImageName == "" {
		return nil, fmt.Errorf("no boot/vmlinux-* or boot/vmlinuz-* in the package")
	}
	if !contains(modTrees, ex.Release) {
		return nil, fmt.Errorf("no modules for kernel %s in the package (found %v)", ex.Release, modTrees)
	}
	return ex, nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// isKernelImageName reports whether a package path is the kernel itself.
func isKernelImageName(name string) bool {
	dir, base := path.Split(name)
	return dir == "boot/" && (strings.HasPrefix(base, "vmlinux-") || strings.HasPrefix(base, "vmlinuz-")) && len(base) > len("vmlinux-")
}

// modulesPath splits a path under lib/modules/ or usr/lib/modules/ into the
// prefix and the rest ("<release>/kernel/...").
func modulesPath(name string) (prefix, rest string, ok bool) {
	for _, p := range []string{"usr/lib/modules", "lib/modules"} {
		if name == p {
			return p, "", true
		}
		if r, found := strings.CutPrefix(name, p+"/"); found {
			return p, r, true
		}
	}
	return "", "", false
}

// isModuleFile reports whether a path is a kernel module, compressed or not.
func isModuleFile(name string) bool {
	base := path.Base(name)
	for _, ext := range []string{".ko", ".ko.xz", ".ko.gz", ".ko.zst"} {
		if strings.HasSuffix(base, ext) {
			return true
		}
	}
	return false
}

// writeFile writes r to a new file.
func writeFile(path string, r io.Reader, perm fs.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return fmt.Errorf("creating %s: %w", path, err)
	}
	if _, err := io.Copy(f, r); err != nil {
		f.Close()
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}

// imageFormat describes a kernel file and says how to get the raw Image.
type imageFormat struct {
	// Desc is a human description, such as "flat RISC-V Image with an EFI
	// (PE/COFF) stub, uncompressed".
	Desc string
	// Compression of the payload: "" (none), "gzip" (a whole gzip file,
	// Image.gz) or the EFI zboot method ("gzip", "xz", "zstd", ...).
	Compression string
	// ZBoot says the file is an EFI zboot image (CONFIG_EFI_ZBOOT) whose
	// compressed payload is at PayloadOffset, PayloadSize bytes long.
	ZBoot                      bool
	PayloadOffset, PayloadSize int64
}

// sniffImage looks at the start of a kernel file (at least 64 bytes) and
// identifies it.
func sniffImage(head []byte) (imageFormat, error) {
	switch {
	case len(head) >= 2 && head[0] == 0x1f && head[1] == 0x8b:
		return imageFormat{Desc: "gzip-compressed Image (Image.gz)", Compression: "gzip"}, nil
	case len(head) >= 32 && string(head[0:2]) == "MZ" && string(head[4:8]) == "zimg":
		// EFI zboot header: "MZ", 2 bytes, "zimg", le32 payload offset,
		// le32 payload size, 8 reserved bytes, NUL-padded method name.
		off := int64(binary.LittleEndian.Uint32(head[8:12]))
		size := int64(binary.LittleEndian.Uint32(head[12:16]))
		method := string(bytes.TrimRight(head[24:32], "\x00"))
		return imageFormat{
			Desc:        fmt.Sprintf("EFI zboot image, %s-compressed Image", method),
			Compression: method, ZBoot: true, PayloadOffset: off, PayloadSize: size,
		}, nil
	case len(head) >= ImageMagicOffset+4 && string(head[ImageMagicOffset:ImageMagicOffset+4]) == riscvImageMagic:
		desc := "flat RISC-V Image, uncompressed"
		if string(head[0:2]) == "MZ" {
			desc = "flat RISC-V Image with an EFI (PE/COFF) stub, uncompressed"
		}
		return imageFormat{Desc: desc}, nil
	}
	return imageFormat{}, fmt.Errorf("not a RISC-V Image (no %q at offset %d), gzip file or EFI zboot image", riscvImageMagic, ImageMagicOffset)
}

// rawImage turns the kernel file src into the flat, uncompressed Image dst,
// decompressing gzip and EFI zboot kernels. It returns the description of
// src.
func rawImage(ctx context.Context, src, dst string) (string, error) {
	head := make([]byte, 64)
	f, err := os.Open(src)
	if err != nil {
		return "", fmt.Errorf("opening the kernel: %w", err)
	}
	defer f.Close()
	n, err := io.ReadFull(f, head)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) {
		return "", fmt.Errorf("reading the kernel: %w", err)
	}
	format, err := sniffImage(head[:n])
	if err != nil {
		return "", err
	}
	if format.Compression == "" {
		f.Close()
		if err := os.Rename(src, dst); err != nil {
			return "", fmt.Errorf("moving the kernel: %w", err)
		}
		return format.Desc, nil
	}
	var payload io.Reader = f
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return "", fmt.Errorf("reading the kernel: %w", err)
	}
	if format.ZBoot {
		payload = io.NewSectionReader(f, format.PayloadOffset, format.PayloadSize)
	}
	if err := decompress(ctx, format.Compression, payload, dst); err != nil {
		return "", fmt.Errorf("decompressing the %s kernel: %w", format.Desc, err)
	}
	out, err := os.Open(dst)
	if err != nil {
		return "", err
	}
	defer out.Close()
	n, _ = io.ReadFull(out, head)
	if inner, err := sniffImage(head[:n]); err != nil || inner.Compression != "" {
		return "", fmt.Errorf("the decompressed %s is not a flat RISC-V Image", format.Desc)
	}
	if err := os.Remove(src); err != nil {
		return "", fmt.Errorf("removing the packaged kernel: %w", err)
	}
	return format.Desc, nil
}

// decompress writes the decompression of r to the new file dst: gzip in Go,
// xz, lzma and zstd with the xz and zstd programs.
func decompress(ctx context.Context, method string, r io.Reader, dst string) error {
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return fmt.Errorf("creating %s: %w", dst, err)
	}
	defer out.Close()
	switch method {
	case "gzip":
		zr, err := gzip.NewReader(r)
		if err != nil {
			return err
		}
		if _, err := io.Copy(out, zr); err != nil {
			return err
		}
	case "xz", "lzma", "zstd":
		prog := map[string]string{"xz": "xz", "lzma": "xz", "zstd": "zstd"}[method]
		cmd := exec.CommandContext(ctx, prog, "-dc")
		if method == "lzma" {
			cmd.Args = append(cmd.Args, "--format=lzma")
		}
		var stderr bytes.Buffer
		cmd.Stdin, cmd.Stdout, cmd.Stderr = r, out, &stderr
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("%s: %w: %s", prog, err, lastLines(stderr.String(), 2))
		}
	default:
		return fmt.Errorf("unsupported compression %q", method)
	}
	return out.Close()
}
