package reference

import (
	"testing"

	"github.com/flowerlib/flowers/internal/testdata"
)

// repoRoot is the repository root.
func repoRoot() string { return testdata.RepoRoot() }

// requireSample returns the sample photo folder or skips.
func requireSample(t *testing.T) string { return testdata.RequireSample(t) }
