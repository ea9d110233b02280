#!/usr/bin/env bash
# Makes a bare git repository whose tags look like the Go repository's:
# go1.20 (no .0 before 1.21), go1.21.0, release candidates, betas,
# bootstrap tags, annotated tags (peeled ^{} lines in ls-remote).
# Usage: make-go-tags-repo.sh DIR [extra tag…]
set -euo pipefail
dest="$1"; shift
work="$(mktemp -d)"; trap 'rm -rf "$work"' EXIT
git init -q "$work/src"
cd "$work/src"
git -c user.name=t -c user.email=t@example.invalid commit -q --allow-empty -m init
tags=(go1.4-bootstrap-20171003 go1.9beta1 go1.9 go1.19rc1 go1.19 go1.20rc1 go1.20 go1.20.1 go1.20.14)
for i in $(seq 1 8); do tags+=("go1.19.$i"); done
for i in $(seq 0 13); do tags+=("go1.21.$i"); done
tags+=(go1.21rc2 go1.21rc3 go1.22rc1 weekly.2011-01-01 release.r60 "$@")
for t in "${tags[@]}"; do
  case "$t" in
    *.0|go1.21.13) git -c user.name=t -c user.email=t@example.invalid tag -a -m "$t" "$t" ;;
    *) git tag "$t" ;;
  esac
done
git clone -q --bare "$work/src" "$dest"
echo "$dest"
