package main

import (
	"archive/tar"
	"bytes"
	"debug/elf"
	"encoding/binary"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fakeELF returns a minimal ELF64 executable for the machine: a header and one PT_LOAD
// program header, plus a PT_INTERP one when dynamic (what a cgo build has).
func fakeELF(t *testing.T, machine elf.Machine, dynamic bool, payload string) []byte {
	t.Helper()
	nprogs := 1
	if dynamic {
		nprogs = 2
	}
	hdr := elf.Header64{
		Type: uint16(elf.ET_EXEC), Machine: uint16(machine), Version: uint32(elf.EV_CURRENT),
		Entry: 0x401000, Phoff: 64, Ehsize: 64, Phentsize: 56, Phnum: uint16(nprogs),
	}
	copy(hdr.Ident[:], elf.ELFMAG)
	hdr.Ident[elf.EI_CLASS] = byte(elf.ELFCLASS64)
	hdr.Ident[elf.EI_DATA] = byte(elf.ELFDATA2LSB)
	hdr.Ident[elf.EI_VERSION] = byte(elf.EV_CURRENT)
	var buf bytes.Buffer
	require.NoError(t, binary.Write(&buf, binary.LittleEndian, hdr))
	dataOff := uint64(64 + 56*nprogs)
	interp := "/lib64/ld-linux-x86-64.so.2\x00"
	progs := []elf.Prog64{{Type: uint32(elf.PT_LOAD), Flags: uint32(elf.PF_R | elf.PF_X), Off: 0,
		Vaddr: 0x400000, Filesz: dataOff + uint64(len(payload)), Memsz: dataOff + uint64(len(payload)), Align: 0x1000}}
	if dynamic {
		progs = append([]elf.Prog64{{Type: uint32(elf.PT_INTERP), Flags: uint32(elf.PF_R), Off: dataOff,
			Filesz: uint64(len(interp)), Memsz: uint64(len(interp)), Align: 1}}, progs...)
	}
	require.NoError(t, binary.Write(&buf, binary.LittleEndian, progs))
	if dynamic {
		buf.WriteString(interp)
	}
	buf.WriteString(payload)
	return buf.Bytes()
}

// inputs writes a fixture "collector", a config and a CA bundle into dir, with the given
// file mtimes (which must not matter).
func inputs(t *testing.T, dir string, bin []byte, mtime time.Time) options {
	t.Helper()
	o := options{
		binary:   filepath.Join(dir, "otelcol-vigil"),
		config:   filepath.Join(dir, "local.yaml"),
		caBundle: filepath.Join(dir, "ca.pem"),
		ref:      "ghcr.io/vigilsec/otelcol-vigil:0.1.0",
		created:  time.Unix(1764547200, 0).UTC(),
	}
	require.NoError(t, os.WriteFile(o.binary, bin, 0o700))
	require.NoError(t, os.WriteFile(o.config, []byte("receivers:\n  ebpf:\n"), 0o600))
	require.NoError(t, os.WriteFile(o.caBundle, []byte("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"), 0o644))
	for _, f := range []string{o.binary, o.config, o.caBundle} {
		require.NoError(t, os.Chtimes(f, mtime, mtime))
	}
	return o
}

func digestOf(t *testing.T, img v1.Image) v1.Hash {
	t.Helper()
	d, err := img.Digest()
	require.NoError(t, err)
	return d
}

func TestBuildIsReproducible(t *testing.T) {
	bin := fakeELF(t, elf.EM_X86_64, false, "collector fixture")
	a := inputs(t, t.TempDir(), bin, time.Unix(1000, 0))
	b := inputs(t, t.TempDir(), bin, time.Unix(2_000_000_000, 0)) // other dir, other mtimes

	imgA, _, err := build(a)
	require.NoError(t, err)
	imgB, _, err := build(b)
	require.NoError(t, err)
	assert.Equal(t, digestOf(t, imgA), digestOf(t, imgB), "same inputs, same digest")

	// Written as OCI layouts twice: byte-identical index and blobs.
	outA, outB := filepath.Join(t.TempDir(), "image"), filepath.Join(t.TempDir(), "image")
	require.NoError(t, run([]string{"-binary", a.binary, "-config", a.config, "-ca-bundle", a.caBundle,
		"-ref", a.ref, "-created", "1764547200", "-out", outA}, io.Discard))
	var stdout bytes.Buffer
	require.NoError(t, run([]string{"-binary", b.binary, "-config", b.config, "-ca-bundle", b.caBundle,
		"-ref", b.ref, "-created", "1764547200", "-out", outB}, &stdout))
	assert.Equal(t, "ghcr.io/vigilsec/otelcol-vigil:0.1.0@"+digestOf(t, imgA).String()+"\n", stdout.String())
	assert.Equal(t, treeOf(t, outA), treeOf(t, outB))
	// Writing again over an existing layout replaces it (one image, not two).
	require.NoError(t, run([]string{"-binary", a.binary, "-config", a.config, "-ca-bundle", a.caBundle,
		"-ref", a.ref, "-created", "1764547200", "-out", outA}, io.Discard))
	assert.Equal(t, treeOf(t, outB), treeOf(t, outA))

	// Any input change changes the digest.
	for what, change := range map[string]func(o *options){
		"binary": func(o *options) {
			require.NoError(t, os.WriteFile(o.binary, fakeELF(t, elf.EM_X86_64, false, "other"), 0o755))
		},
		"config":  func(o *options) { require.NoError(t, os.WriteFile(o.config, []byte("receivers: {}\n"), 0o644)) },
		"created": func(o *options) { o.created = o.created.Add(time.Second) },
		"no CA":   func(o *options) { o.caBundle = "" },
	} {
		c := inputs(t, t.TempDir(), bin, time.Unix(1000, 0))
		change(&c)
		img, _, err := build(c)
		require.NoError(t, err, what)
		assert.NotEqual(t, digestOf(t, imgA), digestOf(t, img), "changing the %s changes the digest", what)
	}
}

// treeOf reads every file under dir: relative path -> content.
func treeOf(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	require.NoError(t, filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		rel, _ := filepath.Rel(dir, p)
		out[rel] = string(b)
		return err
	}))
	require.NotEmpty(t, out)
	return out
}

func TestImageContents(t *testing.T) {
	bin := fakeELF(t, elf.EM_X86_64, false, "collector fixture")
	o := inputs(t, t.TempDir(), bin, time.Unix(1000, 0))
	dir := t.TempDir()
	out, tarOut := filepath.Join(dir, "image"), filepath.Join(dir, "image.tar")
	// The repository's own default detection pack.
	require.NoError(t, run([]string{"-binary", o.binary, "-config", o.config, "-ca-bundle", o.caBundle,
		"-rules", "../../../rules", "-ref", o.ref, "-created", "1764547200", "-out", out, "-tar", tarOut}, io.Discard))

	// Read back from the layout as a consumer would.
	p, err := layout.FromPath(out)
	require.NoError(t, err)
	idx, err := p.ImageIndex()
	require.NoError(t, err)
	im, err := idx.IndexManifest()
	require.NoError(t, err)
	require.Len(t, im.Manifests, 1)
	desc := im.Manifests[0]
	assert.Equal(t, types.OCIManifestSchema1, desc.MediaType)
	assert.Equal(t, "ghcr.io/vigilsec/otelcol-vigil:0.1.0", desc.Annotations["io.containerd.image.name"])
	assert.Equal(t, "0.1.0", desc.Annotations["org.opencontainers.image.ref.name"])
	img, err := p.Image(desc.Digest)
	require.NoError(t, err)

	cf, err := img.ConfigFile()
	require.NoError(t, err)
	assert.Equal(t, "linux", cf.OS)
	assert.Equal(t, "amd64", cf.Architecture)
	assert.Equal(t, []string{"/otelcol-vigil"}, cf.Config.Entrypoint, "the entrypoint is the collector")
	assert.Equal(t, []string{"--config=/etc/vigil/config.yaml"}, cf.Config.Cmd, "with the default configuration")
	assert.Equal(t, time.Unix(1764547200, 0).UTC(), cf.Created.UTC())
	assert.Equal(t, "0.1.0", cf.Config.Labels["org.opencontainers.image.version"])
	mt, err := img.MediaType()
	require.NoError(t, err)
	assert.Equal(t, types.OCIManifestSchema1, mt)

	layers, err := img.Layers()
	require.NoError(t, err)
	require.Len(t, layers, 1)
	lmt, err := layers[0].MediaType()
	require.NoError(t, err)
	assert.Equal(t, types.OCILayer, lmt)
	rc, err := layers[0].Uncompressed()
	require.NoError(t, err)
	defer rc.Close()
	entries := map[string]*tar.Header{}
	contents := map[string]string{}
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		require.NoError(t, err)
		entries[h.Name] = h
		b, err := io.ReadAll(tr)
		require.NoError(t, err)
		contents[h.Name] = string(b)
		assert.Equal(t, time.Unix(1764547200, 0).UTC(), h.ModTime.UTC(), "%s: fixed mtime", h.Name)
		assert.Zero(t, h.Uid, h.Name)
		assert.Zero(t, h.Gid, h.Name)
		assert.False(t, strings.HasPrefix(h.Name, "/"), "relative entry %s", h.Name)
	}
	require.Contains(t, entries, "otelcol-vigil")
	assert.Equal(t, int64(0o755), entries["otelcol-vigil"].Mode)
	assert.Equal(t, string(bin), contents["otelcol-vigil"])
	assert.Equal(t, "receivers:\n  ebpf:\n", contents["etc/vigil/config.yaml"])
	assert.Equal(t, int64(0o644), entries["etc/vigil/config.yaml"].Mode)
	assert.Contains(t, contents["etc/ssl/certs/ca-certificates.crt"], "BEGIN CERTIFICATE")
	assert.Equal(t, byte(tar.TypeDir), entries["var/lib/vigil/out/"].Typeflag)
	assert.Equal(t, int64(0o1777), entries["tmp/"].Mode)
	// The default pack: every top-level rules file, not the pending ones; the relative
	// "rules" of the default configuration resolves through the link in the working dir.
	packFiles, err := filepath.Glob("../../../rules/*.yaml")
	require.NoError(t, err)
	require.NotEmpty(t, packFiles)
	for _, f := range packFiles {
		want, err := os.ReadFile(f)
		require.NoError(t, err)
		assert.Equal(t, string(want), contents["etc/vigil/rules/"+filepath.Base(f)], f)
	}
	for name := range entries {
		assert.NotContains(t, name, "pending", "rules/pending is not part of the default load")
	}
	require.Contains(t, entries, "var/lib/vigil/rules")
	assert.Equal(t, byte(tar.TypeSymlink), entries["var/lib/vigil/rules"].Typeflag)
	assert.Equal(t, "/etc/vigil/rules/", entries["var/lib/vigil/rules"].Linkname)

	// The docker archive holds the same image under the tag.
	fromTar, err := tarball.ImageFromPath(tarOut, nil)
	require.NoError(t, err)
	tcf, err := fromTar.ConfigFile()
	require.NoError(t, err)
	assert.Equal(t, cf.Config.Entrypoint, tcf.Config.Entrypoint)
	cfgName, err := img.ConfigName()
	require.NoError(t, err)
	tarCfgName, err := fromTar.ConfigName()
	require.NoError(t, err)
	assert.Equal(t, cfgName, tarCfgName, "same image config in both outputs")

	arm := inputs(t, t.TempDir(), fakeELF(t, elf.EM_AARCH64, false, "x"), time.Unix(1000, 0))
	aimg, _, err := build(arm)
	require.NoError(t, err)
	acf, err := aimg.ConfigFile()
	require.NoError(t, err)
	assert.Equal(t, "arm64", acf.Architecture, "architecture from the ELF header")
}

func TestBuildRefusals(t *testing.T) {
	dir := t.TempDir()
	dyn := inputs(t, dir, fakeELF(t, elf.EM_X86_64, true, "cgo build"), time.Unix(1000, 0))
	_, _, err := build(dyn)
	require.ErrorContains(t, err, "dynamically linked (has an ELF interpreter)")
	require.ErrorContains(t, err, "CGO_ENABLED=0")

	script := inputs(t, t.TempDir(), []byte("#!/bin/sh\necho not a collector\n"), time.Unix(1000, 0))
	_, _, err = build(script)
	require.ErrorContains(t, err, "not an ELF executable")

	ok := inputs(t, t.TempDir(), fakeELF(t, elf.EM_X86_64, false, "x"), time.Unix(1000, 0))
	bad := ok
	bad.ref = "ghcr.io/vigilsec/otelcol-vigil" // no tag
	_, _, err = build(bad)
	require.ErrorContains(t, err, `-ref "ghcr.io/vigilsec/otelcol-vigil"`)
	bad = ok
	bad.config = filepath.Join(dir, "missing.yaml")
	_, _, err = build(bad)
	require.ErrorContains(t, err, "input "+bad.config)
	bad = ok
	bad.config = dir
	_, _, err = build(bad)
	require.ErrorContains(t, err, "not a regular file")

	require.ErrorContains(t, run([]string{"-binary", ok.binary}, io.Discard), "are required")
	require.ErrorContains(t, run([]string{"-binary", ok.binary, "-config", ok.config, "-ref", ok.ref,
		"-out", filepath.Join(dir, "o"), "-created", "yesterday"}, io.Discard), `-created "yesterday"`)
	_, err = os.Stat(filepath.Join(dir, "o"))
	assert.True(t, os.IsNotExist(err), "nothing written on a refused build")
}
