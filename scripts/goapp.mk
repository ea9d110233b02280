# goapp-build for a Makefile: `include path/to/goapp-build/scripts/goapp.mk`
# is all it needs. This file finds its own place, so the include works from
# any directory, and the tool runs in make's directory (the config found is
# the one nearest to it):
#   make image                     the app of this directory; at the root, every app
#   make image APP=api ARCH=arm64  one app, one arch (APP="api worker": several)
#   make image ALL=1               every app, wherever make runs
#   make ship HOST=pi APP=api      build if needed, then put it on the node(s)
#   make go-version                the Go version each build uses
#   make lint / make doctor        preflight and lints (APP= as for image) / the whole set-up (no APP=)
#   GOAPP_FLAGS=-v (or -q, --json, --force, ...) passes flags through.
# GOAPP is how the tool is run: by default this checkout's scripts/goapp,
# which compiles it on first use (and says so). Set it to use an installed
# `goapp` or a prebuilt binary instead.
GOAPP_HOME := $(patsubst %/,%,$(dir $(patsubst %/,%,$(dir $(abspath $(lastword $(MAKEFILE_LIST)))))))
GOAPP ?= $(GOAPP_HOME)/scripts/goapp
APP ?=
ALL ?=
ARCH ?=
TAG ?=
HOST ?=
GOAPP_FLAGS ?=

goapp_apps = $(if $(ALL),--all,$(APP))
goapp_arch = $(if $(ARCH),--arch $(ARCH))
goapp_tag = $(if $(TAG),--tag $(TAG))

.PHONY: image ship go-version lint doctor
image:
	@$(GOAPP) image $(goapp_apps) $(goapp_arch) $(goapp_tag) $(GOAPP_FLAGS)

ship:
	@test -n "$(HOST)" || { echo "make ship needs HOST=name (a host or group from goapp.yaml)" >&2; exit 2; }
	@$(GOAPP) ship --host $(HOST) $(goapp_apps) $(goapp_arch) $(goapp_tag) $(GOAPP_FLAGS)

go-version:
	@$(GOAPP) go-version $(goapp_apps) $(GOAPP_FLAGS)

lint:
	@$(GOAPP) lint $(goapp_apps) $(goapp_arch) $(GOAPP_FLAGS)

doctor:
	@$(GOAPP) doctor $(GOAPP_FLAGS)
