#!/bin/sh
# Regenerates echo.pb.go with Debian's protoc and the protoc-gen-go v1.3 sources shipped in
# golang-github-golang-protobuf-1-3-dev (offline). The generated file is committed so building
# the lab never needs protoc.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
GO111MODULE=off GOPATH=/usr/share/gocode GOPROXY=off GOCACHE="$tmp/cache" \
  go build -o "$tmp/protoc-gen-go" github.com/golang/protobuf/protoc-gen-go
protoc --plugin=protoc-gen-go="$tmp/protoc-gen-go" -I "$here" \
  --go_out=plugins=grpc,paths=source_relative:"$here" "$here/echo.proto"
