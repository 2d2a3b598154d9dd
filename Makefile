# Vigil: build, run and test the OpenTelemetry Collector distribution.
SHELL := /bin/bash
GO ?= go
BIN := $(CURDIR)/bin
BUILDER_VERSION := v0.161.0
STATICCHECK_VERSION := v0.8.2
BUILDER := $(BIN)/builder
STATICCHECK := $(BIN)/staticcheck
COLLECTOR := $(CURDIR)/_build/otelcol-vigil
CONFIG ?= deploy/config/local.yaml
# Test packages; the kernel tests need root (CI=true turns any skip into a failure).
PKGS ?= ./...

.PHONY: all deps tools generate generate-metadata check-generated check-tidy check-goos build image run test test-suites test-unit test-e2e lint bench test-vm clean

all: build

# Everything the tests need on a fresh machine (apt packages, Go tools). Idempotent.
deps:
	./.ci/install-deps.sh
	$(MAKE) tools

tools: $(BUILDER) $(STATICCHECK)

$(BUILDER):
	GOBIN=$(BIN) $(GO) install go.opentelemetry.io/collector/cmd/builder@$(BUILDER_VERSION)

$(STATICCHECK):
	GOBIN=$(BIN) $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)

# Regenerate bpf2go objects (needs clang-19). The generated files are committed.
# clang orders the BTF of an object by hashes that depend on the absolute path of
# its sources, so objects are always generated in one fixed directory: the same
# sources give the same bytes wherever the repository is checked out.
GEN_DIR ?= /tmp/vigil-generate
generate: generate-metadata
	rm -rf $(GEN_DIR) && mkdir -p $(GEN_DIR)
	git ls-files -z --cached --others --exclude-standard | xargs -0 cp --parents -t $(GEN_DIR)
	cd $(GEN_DIR) && $(GO) generate ./...
	cd $(GEN_DIR) && find . -name '*_bpfel.go' -o -name '*_bpfel.o' | while read -r f; do cp "$$f" "$(CURDIR)/$$f"; done

# Each component's metadata.yaml gives its internal/metadata package (type, stability,
# self-telemetry), internal/metadatatest, the generated lifecycle and goleak tests and
# documentation.md. mdatagen is pinned in the tools module (internal/tools/go.mod).
MDATAGEN_COMPONENTS := receiver/ebpfreceiver processor/k8senrichprocessor extension/k8smetaextension
MDATAGEN_OUTPUTS := $(foreach c,$(MDATAGEN_COMPONENTS),$(c)/internal/metadata $(c)/internal/metadatatest \
	$(c)/generated_component_test.go $(c)/generated_package_test.go $(c)/documentation.md $(c)/README.md)
generate-metadata:
	@for c in $(MDATAGEN_COMPONENTS); do \
		$(GO) -C internal/tools tool mdatagen $(CURDIR)/$$c/metadata.yaml || exit 1; \
	done

# Fails when the committed generated files differ from what the sources produce.
check-generated: generate
	@git diff --exit-code -- '*.go' '*.o' || { echo "generated files are out of date: run make generate"; exit 1; }
	@test -z "$$(git status --porcelain --untracked-files=all -- $(MDATAGEN_OUTPUTS))" || \
		{ git status --porcelain --untracked-files=all -- $(MDATAGEN_OUTPUTS); echo "generated metadata is out of date: run make generate-metadata"; exit 1; }

# Fails when a go.mod or go.sum is not what `go mod tidy` makes of it (the root module,
# deploy/, the test harness module both require and the tools module).
check-tidy:
	$(GO) mod tidy -diff
	cd deploy && $(GO) mod tidy -diff
	$(GO) -C internal/testkit mod tidy -diff
	$(GO) -C internal/tools mod tidy -diff

# Every package builds on the collector's other platforms (the ebpf receiver is Linux-only:
# elsewhere its factory creates a receiver that reports so).
check-goos:
	GOOS=darwin $(GO) build ./...
	GOOS=windows $(GO) build ./...

build: $(BUILDER)
	$(BUILDER) --config builder-config.yaml

# The container image the Helm chart and the kustomize base name, built without a
# container daemon (deploy/cmd/vigil-image): an OCI image layout in out/image and a
# docker-archive tarball (docker/podman load, ctr image import). Reproducible: ocb builds
# the collector static (CGO_ENABLED=0 unless dist.cgo_enabled) with -trimpath, and file
# times and the creation time are the last commit's, so one commit gives one digest.
IMAGE_REPO ?= ghcr.io/vigilsec/otelcol-vigil
VERSION := $(shell sed -n 's/^  version: *//p' builder-config.yaml)
IMAGE ?= $(IMAGE_REPO):$(VERSION)
IMAGE_CONFIG ?= deploy/config/local.yaml
CA_BUNDLE ?= /etc/ssl/certs/ca-certificates.crt
SOURCE_DATE_EPOCH ?= $(shell git log -1 --format=%ct 2>/dev/null || echo 0)
image: build
	cd deploy && $(GO) run ./cmd/vigil-image -binary $(COLLECTOR) -config $(CURDIR)/$(IMAGE_CONFIG) \
		-ca-bundle $(CA_BUNDLE) -rules $(CURDIR)/rules -ref $(IMAGE) -created $(SOURCE_DATE_EPOCH) \
		-out $(CURDIR)/out/image -tar $(CURDIR)/out/otelcol-vigil-image.tar

# out/ holds the events (command lines, paths, users): private to the collector's user (0700), also when
# it exists from an earlier run (the file exporter writes its files 0644).
run: build
	install -d -m 0700 out
	$(COLLECTOR) --config $(CONFIG)

lint: $(STATICCHECK)
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo "gofmt needed"; exit 1; }
	$(GO) vet ./...
	$(STATICCHECK) ./...
	cd deploy && $(GO) vet ./...
	$(GO) -C internal/testkit vet ./...
	cd internal/testkit && $(STATICCHECK) ./...

test-unit:
	$(GO) test -race -count=1 $(PKGS)

# End-to-end: the ocb-built binary exports over OTLP/gRPC to a second collector.
test-e2e: build
	VIGIL_COLLECTOR_BIN=$(COLLECTOR) $(GO) test -count=1 -v -run 'TestE2E' ./components/

# The README's test command: everything, as CI runs it. Kubernetes tests run
# against a real kube-apiserver (built once from the module proxy and cached in
# $$HOME/.cache/vigil, ~18 min cold) and Debian's etcd; the real-node tests in deploy/
# also run a kubelet, controller-manager and scheduler (.ci/k8s/build-kube-node.sh, ~4 min
# cold, cached) against containerd, with Vigil installed from out/otelcol-vigil-image.tar
# (make image); kernel-matrix tests boot stock Debian 6.1 and 6.12 kernels under qemu.
# The suites run under .ci/detection-watch.sh: a second collector with the default
# detection pack watches the machine and reports, at the end, the pack's detections over
# the run (vigil-trigger's intended ones apart from false positives).
test: deps check-generated check-tidy check-goos lint build image
	VIGIL_COLLECTOR_BIN=$(COLLECTOR) ./.ci/detection-watch.sh $(MAKE) --no-print-directory test-suites

test-suites:
	VIGIL_KUBE_APISERVER=$$(./.ci/k8s/build-kube-apiserver.sh) VIGIL_ETCD=$$(command -v etcd) \
		VIGIL_COLLECTOR_BIN=$(COLLECTOR) $(GO) test -race -count=1 $(PKGS)
	$(GO) -C internal/testkit test -race -count=1 ./...
	./.ci/k8s/build-kube-node.sh >/dev/null
	cd deploy && VIGIL_COLLECTOR_BIN=$(COLLECTOR) VIGIL_IMAGE_TAR=$(CURDIR)/out/otelcol-vigil-image.tar \
		VIGIL_KUBE_APISERVER=$$(../.ci/k8s/build-kube-apiserver.sh) VIGIL_ETCD=$$(command -v etcd) \
		VIGIL_KUBELET=$$(../.ci/k8s/build-kube-node.sh | sed -n 's/^kubelet=//p') \
		VIGIL_KUBE_CONTROLLER_MANAGER=$$(../.ci/k8s/build-kube-node.sh | sed -n 's/^kube-controller-manager=//p') \
		VIGIL_KUBE_SCHEDULER=$$(../.ci/k8s/build-kube-node.sh | sed -n 's/^kube-scheduler=//p') \
		$(GO) test -count=1 ./...
	./.ci/vm/run.sh

bench: build
	VIGIL_COLLECTOR_BIN=$(COLLECTOR) $(GO) run ./components/cmd/vigil-bench
	$(GO) test -run '^$$' -bench 'Stage25$$' -benchmem -count 3 ./receiver/ebpfreceiver/internal/rulestage/
	$(GO) test -run '^$$' -bench 'OpenMatchPath$$|ProcessExec' -benchmem -count 3 ./receiver/ebpfreceiver/
	VIGIL_VM_TESTFLAGS="-test.run=^$$ -test.bench=OpenStormHooks -test.benchtime=50000x -test.v" \
		./.ci/vm/run.sh ./receiver/ebpfreceiver/internal/sensor/

test-vm:
	./.ci/vm/run.sh

clean:
	rm -rf _build out bin
