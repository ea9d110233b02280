# goapp-build for a monorepo's Makefile:   include path/to/goapp.mk
#   make image                     build every arch of the app in this directory
#   make image APP=joke ARCH=arm64 one app, one arch
#   make ship HOST=pi APP=joke     build if needed, then put it on the node(s)
#   make go-version                the Go version the app builds with
#   make lint / make doctor        preflight and lints / the whole set-up
# GOAPP is how goapp-build is run: `cargo xtask` inside its workspace, or e.g.
# `cargo run -q --manifest-path tools/goapp-build/Cargo.toml -p xtask --`.
GOAPP ?= cargo xtask
APP ?=
ARCH ?=
TAG ?=
HOST ?=
GOAPP_FLAGS ?=

goapp_arch = $(if $(ARCH),--arch $(ARCH))
goapp_tag = $(if $(TAG),--tag $(TAG))

.PHONY: image ship go-version lint doctor
image:
	$(GOAPP) image $(APP) $(goapp_arch) $(goapp_tag) $(GOAPP_FLAGS)

ship:
	@test -n "$(HOST)" || { echo "make ship needs HOST=name (a host or group from goapp.yaml)" >&2; exit 2; }
	$(GOAPP) ship --host $(HOST) $(APP) $(goapp_arch) $(goapp_tag) $(GOAPP_FLAGS)

go-version:
	@$(GOAPP) go-version $(APP)


lint:
	$(GOAPP) lint $(goapp_arch) $(GOAPP_FLAGS)

doctor:
	$(GOAPP) doctor $(GOAPP_FLAGS)
