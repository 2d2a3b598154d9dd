// Command vigil-image builds Vigil's container image without a container daemon: one layer
// holding the statically linked collector, its default configuration and the CA bundle,
// written as an OCI image layout (and optionally a docker-archive tarball for `docker load`,
// `podman load` or `ctr image import`).
//
// The build is reproducible: every file in the layer has a fixed modification time, owner
// and mode, entries are in a fixed order, and the image's creation time comes from -created
// (SOURCE_DATE_EPOCH), so the same inputs give the same image digest on any machine.
//
//	go run ./cmd/vigil-image -binary ../_build/otelcol-vigil -config config/local.yaml \
//	    -ref ghcr.io/vigilsec/otelcol-vigil:0.1.0 -out ../out/image
package main

import (
	"archive/tar"
	"bytes"
	"debug/elf"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Paths inside the image.
const (
	binaryPath = "/otelcol-vigil"
	configPath = "/etc/vigil/config.yaml"
	// rulesDir holds the default detection pack; the default configuration names it as
	// "rules" relative to the working directory, where a symbolic link points at it.
	rulesDir = "/etc/vigil/rules/"
	caPath   = "/etc/ssl/certs/ca-certificates.crt"
	workDir  = "/var/lib/vigil"
	// The largest input file accepted (the collector is ~80 MB).
	maxInputSize = 512 << 20
)

// options are the inputs of one image build; the same options give the same digest.
type options struct {
	binary   string    // the collector, a statically linked ELF executable
	config   string    // the default configuration
	caBundle string    // PEM CA certificates for TLS exporters; "" for none
	rules    string    // directory of the default detection pack (its *.yaml files); "" for none
	ref      string    // the image reference, e.g. ghcr.io/vigilsec/otelcol-vigil:0.1.0
	created  time.Time // the image's creation time and every file's mtime
}

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "vigil-image:", err)
		os.Exit(1)
	}
}

func run(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("vigil-image", flag.ContinueOnError)
	var o options
	fs.StringVar(&o.binary, "binary", "", "the collector binary (statically linked)")
	fs.StringVar(&o.config, "config", "", "the default collector configuration, installed as "+configPath)
	fs.StringVar(&o.caBundle, "ca-bundle", "", "PEM CA bundle installed as "+caPath+" (empty: none)")
	fs.StringVar(&o.rules, "rules", "", "directory whose *.yaml files (not recursively) are installed in "+rulesDir+" (the default detection pack)")
	fs.StringVar(&o.ref, "ref", "", "image reference (repository:tag)")
	created := fs.String("created", os.Getenv("SOURCE_DATE_EPOCH"), "creation time, seconds since the epoch (default $SOURCE_DATE_EPOCH, else 0)")
	out := fs.String("out", "", "OCI image layout directory to write (replaced)")
	tarOut := fs.String("tar", "", "also write a docker-archive tarball here")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if o.binary == "" || o.config == "" || o.ref == "" || *out == "" {
		return errors.New("-binary, -config, -ref and -out are required")
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	secs := int64(0)
	if *created != "" {
		var err error
		if secs, err = strconv.ParseInt(*created, 10, 64); err != nil || secs < 0 {
			return fmt.Errorf("-created %q: want seconds since the epoch", *created)
		}
	}
	o.created = time.Unix(secs, 0).UTC()

	img, tag, err := build(o)
	if err != nil {
		return err
	}
	if err := writeLayout(*out, img, tag); err != nil {
		return err
	}
	if *tarOut != "" {
		if err := tarball.WriteToFile(*tarOut, tag, img); err != nil {
			return fmt.Errorf("writing docker archive %s: %w", *tarOut, err)
		}
	}
	digest, err := img.Digest()
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s@%s\n", tag.Name(), digest)
	return nil
}

// build assembles the image from the options; it reads the input files and writes nothing.
func build(o options) (v1.Image, name.Tag, error) {
	tag, err := name.NewTag(o.ref, name.StrictValidation)
	if err != nil {
		return nil, name.Tag{}, fmt.Errorf("-ref %q: %w", o.ref, err)
	}
	bin, err := readInput(o.binary)
	if err != nil {
		return nil, name.Tag{}, err
	}
	arch, err := staticArch(o.binary, bin)
	if err != nil {
		return nil, name.Tag{}, err
	}
	cfg, err := readInput(o.config)
	if err != nil {
		return nil, name.Tag{}, err
	}
	files := []file{
		{path: "etc/", mode: 0o755, dir: true},
		{path: "etc/vigil/", mode: 0o755, dir: true},
		{path: configPath[1:], mode: 0o644, data: cfg},
	}
	rules, err := rulesFiles(o.rules)
	if err != nil {
		return nil, name.Tag{}, err
	}
	files = append(files, rules...)
	if o.caBundle != "" {
		ca, err := readInput(o.caBundle)
		if err != nil {
			return nil, name.Tag{}, err
		}
		files = append(files,
			file{path: "etc/ssl/", mode: 0o755, dir: true},
			file{path: "etc/ssl/certs/", mode: 0o755, dir: true},
			file{path: caPath[1:], mode: 0o644, data: ca})
	}
	files = append(files,
		file{path: binaryPath[1:], mode: 0o755, data: bin},
		file{path: "tmp/", mode: 0o1777, dir: true},
		file{path: "var/", mode: 0o755, dir: true},
		file{path: "var/lib/", mode: 0o755, dir: true},
		file{path: "var/lib/vigil/", mode: 0o755, dir: true},
		// The default configuration's file exporter writes under ./out.
		file{path: "var/lib/vigil/out/", mode: 0o755, dir: true})
	if len(rules) > 0 {
		files = append(files, file{path: "var/lib/vigil/rules", mode: 0o777, link: rulesDir})
	}

	layerTar, err := tarLayer(files, o.created)
	if err != nil {
		return nil, name.Tag{}, err
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(layerTar)), nil
	}, tarball.WithMediaType(types.OCILayer))
	if err != nil {
		return nil, name.Tag{}, fmt.Errorf("layer: %w", err)
	}

	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	img, err = mutate.Append(img, mutate.Addendum{
		Layer:     layer,
		MediaType: types.OCILayer,
		History: v1.History{
			Created:   v1.Time{Time: o.created},
			CreatedBy: "vigil-image: collector, default configuration, CA bundle",
			Comment:   "reproducible: fixed mtimes, uid/gid 0, fixed order",
		},
	})
	if err != nil {
		return nil, name.Tag{}, fmt.Errorf("appending the layer: %w", err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, name.Tag{}, err
	}
	cf = cf.DeepCopy()
	cf.OS = "linux"
	cf.Architecture = arch
	cf.Created = v1.Time{Time: o.created}
	cf.Author = "Vigil"
	cf.Config.Entrypoint = []string{binaryPath}
	// A Kubernetes container's args replace Cmd, so its --config is the only one.
	cf.Config.Cmd = []string{"--config=" + configPath}
	cf.Config.WorkingDir = workDir
	cf.Config.User = "0:0"
	cf.Config.Env = []string{"PATH=/"}
	cf.Config.ExposedPorts = map[string]struct{}{"13133/tcp": {}, "8888/tcp": {}}
	cf.Config.Labels = map[string]string{
		"org.opencontainers.image.title":   "otelcol-vigil",
		"org.opencontainers.image.version": tag.TagStr(),
		"org.opencontainers.image.source":  "https://github.com/vigilsec/vigil",
	}
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		return nil, name.Tag{}, fmt.Errorf("image config: %w", err)
	}
	return img, tag, nil
}

func readInput(path string) ([]byte, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("input %s: %w", path, err)
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("input %s: not a regular file", path)
	}
	if st.Size() > maxInputSize {
		return nil, fmt.Errorf("input %s: %d bytes, more than the %d accepted", path, st.Size(), maxInputSize)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("input %s: %w", path, err)
	}
	return b, nil
}

// staticArch checks that the binary is a statically linked Linux ELF executable (the image
// has no C library or dynamic loader) and returns its GOARCH-style architecture.
func staticArch(path string, bin []byte) (string, error) {
	f, err := elf.NewFile(bytes.NewReader(bin))
	if err != nil {
		return "", fmt.Errorf("binary %s: not an ELF executable: %w", path, err)
	}
	defer f.Close()
	if f.Type != elf.ET_EXEC && f.Type != elf.ET_DYN {
		return "", fmt.Errorf("binary %s: ELF type %s, not an executable", path, f.Type)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return "", fmt.Errorf("binary %s: dynamically linked (has an ELF interpreter); the image has no C library: build it with CGO_ENABLED=0", path)
		}
	}
	switch f.Machine {
	case elf.EM_X86_64:
		return "amd64", nil
	case elf.EM_AARCH64:
		return "arm64", nil
	default:
		return "", fmt.Errorf("binary %s: unsupported machine %s", path, f.Machine)
	}
}

type file struct {
	path string // relative, "/"-separated; directories end in "/"
	mode int64
	dir  bool
	link string // a symbolic link's target
	data []byte
}

// maxRulesFiles bounds the files of the pack directory.
const maxRulesFiles = 256

// rulesFiles reads the *.yaml files of dir (sorted, not recursively) as entries of
// rulesDir, the directory first; none for dir "".
func rulesFiles(dir string) ([]file, error) {
	if dir == "" {
		return nil, nil
	}
	names, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil {
		return nil, fmt.Errorf("-rules %s: %w", dir, err)
	}
	sort.Strings(names)
	if len(names) == 0 {
		return nil, fmt.Errorf("-rules %s: no .yaml files", dir)
	}
	if len(names) > maxRulesFiles {
		return nil, fmt.Errorf("-rules %s: %d files, more than %d", dir, len(names), maxRulesFiles)
	}
	out := []file{{path: rulesDir[1:], mode: 0o755, dir: true}}
	for _, n := range names {
		data, err := readInput(n)
		if err != nil {
			return nil, err
		}
		out = append(out, file{path: rulesDir[1:] + filepath.Base(n), mode: 0o644, data: data})
	}
	return out, nil
}

// tarLayer writes the files in the given order with fixed metadata: the same files give the
// same bytes.
func tarLayer(files []file, mtime time.Time) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range files {
		h := &tar.Header{
			Name:    f.path,
			Mode:    f.mode,
			ModTime: mtime,
			Uid:     0,
			Gid:     0,
			Uname:   "root",
			Gname:   "root",
			Format:  tar.FormatPAX,
		}
		switch {
		case f.dir:
			h.Typeflag = tar.TypeDir
		case f.link != "":
			h.Typeflag, h.Linkname = tar.TypeSymlink, f.link
		default:
			h.Typeflag = tar.TypeReg
			h.Size = int64(len(f.data))
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, fmt.Errorf("layer entry %s: %w", f.path, err)
		}
		if h.Typeflag == tar.TypeReg {
			if _, err := tw.Write(f.data); err != nil {
				return nil, fmt.Errorf("layer entry %s: %w", f.path, err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// writeLayout replaces dir with an OCI image layout holding the image, its index entry
// annotated with the reference (as containerd's importer reads it) and the tag.
func writeLayout(dir string, img v1.Image, tag name.Tag) error {
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("clearing %s: %w", dir, err)
	}
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return err
	}
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		return fmt.Errorf("OCI layout %s: %w", dir, err)
	}
	err = p.AppendImage(img, layout.WithAnnotations(map[string]string{
		"io.containerd.image.name":          tag.Name(),
		"org.opencontainers.image.ref.name": tag.TagStr(),
	}))
	if err != nil {
		return fmt.Errorf("OCI layout %s: %w", dir, err)
	}
	return nil
}
