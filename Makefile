# This repository's own use of the monorepo wrapper: `make image APP=joke`.
include scripts/goapp.mk
