//go:build tools

// Package tools only records the kernel's tool dependencies for go.mod.
package tools

import (
	_ "github.com/janpfeifer/gonb"
	_ "golang.org/x/tools/cmd/goimports"
)
