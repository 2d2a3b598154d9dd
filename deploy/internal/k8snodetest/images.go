//go:build linux

package k8snodetest

import (
	"archive/tar"
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// BusyboxImage is a one-layer image of the static busybox (Debian: busybox-static) for test
// pods; the harness writes it with the pause image (WriteImages).
const BusyboxImage = "vigil.local/busybox:test"

// busyboxApplets are linked in /bin.
var busyboxApplets = []string{"sh", "sleep", "true", "echo", "cat", "ls", "id", "touch", "rm", "mkdir"}

// WriteImages writes a docker archive holding PauseImage (a shell that waits for SIGTERM
// and reaps its children, as a pod sandbox must) and BusyboxImage, built from the local
// busybox binary: no registry is reachable from the tests.
func WriteImages(path string) error {
	src, err := exec.LookPath("busybox")
	if err != nil {
		return fmt.Errorf("node harness: images need the static busybox (Debian: busybox-static): %w", err)
	}
	bb, err := os.ReadFile(src)
	if err != nil {
		return fmt.Errorf("node harness: %w", err)
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	mt := time.Unix(0, 0)
	for _, d := range []string{"bin/", "tmp/", "etc/", "proc/", "sys/", "dev/"} {
		mode := int64(0o755)
		if d == "tmp/" {
			mode = 0o1777
		}
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: d, Mode: mode, ModTime: mt}); err != nil {
			return fmt.Errorf("node harness: image layer: %w", err)
		}
	}
	if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: "bin/busybox", Mode: 0o755, Size: int64(len(bb)), ModTime: mt}); err != nil {
		return fmt.Errorf("node harness: image layer: %w", err)
	}
	if _, err := tw.Write(bb); err != nil {
		return fmt.Errorf("node harness: image layer: %w", err)
	}
	for _, a := range busyboxApplets {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeSymlink, Name: "bin/" + a, Linkname: "busybox", Mode: 0o777, ModTime: mt}); err != nil {
			return fmt.Errorf("node harness: image layer: %w", err)
		}
	}
	if err := tw.Close(); err != nil {
		return fmt.Errorf("node harness: image layer: %w", err)
	}
	layerBytes := buf.Bytes()
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(layerBytes)), nil
	})
	if err != nil {
		return fmt.Errorf("node harness: image layer: %w", err)
	}
	base, err := mutate.AppendLayers(empty.Image, layer)
	if err != nil {
		return fmt.Errorf("node harness: image: %w", err)
	}
	withConfig := func(entrypoint []string) (v1.Image, error) {
		cf, err := base.ConfigFile()
		if err != nil {
			return nil, err
		}
		cf = cf.DeepCopy()
		cf.Architecture, cf.OS = "amd64", "linux"
		cf.Config.Env = []string{"PATH=/bin"}
		cf.Config.Entrypoint = entrypoint
		return mutate.ConfigFile(base, cf)
	}
	pause, err := withConfig([]string{"/bin/sh", "-c", "trap 'exit 0' TERM INT; while :; do sleep 3600 & wait $!; done"})
	if err != nil {
		return fmt.Errorf("node harness: pause image: %w", err)
	}
	box, err := withConfig([]string{"/bin/sh"})
	if err != nil {
		return fmt.Errorf("node harness: busybox image: %w", err)
	}
	refs := map[name.Reference]v1.Image{}
	for ref, img := range map[string]v1.Image{PauseImage: pause, BusyboxImage: box} {
		tag, err := name.NewTag(ref)
		if err != nil {
			return fmt.Errorf("node harness: %w", err)
		}
		refs[tag] = img
	}
	if err := tarball.MultiRefWriteToFile(path, refs); err != nil {
		return fmt.Errorf("node harness: writing %s: %w", path, err)
	}
	return nil
}
