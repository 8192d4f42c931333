package trainer

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/flowerlib/flowers/flowerlib/internal/container"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/ml/train/optimizer"
	"github.com/pkg/errors"
)

// Checkpoint files: "ckpt-<step>.flw" in the run folder, an internal/container file of kind
// CheckpointMagic: every variable of the Store with a value (named by its path: "/dense/kernel",
// "/AdamOptimizer/dense/kernel_1st_moment", "/#rngState", …) and the State as metadata. They
// are written atomically; older ones are removed only once the new one is in place, keeping the
// KeepCheckpoints newest that verify. A checkpoint that fails to verify is never counted or
// deleted: it is renamed to "<name>.corrupt" with a warning, and the next older one is used.
const (
	CheckpointMagic = "FLWCKPT2"
	ckptPrefix      = "ckpt-"
	ckptExt         = ".flw"
	// CorruptSuffix is appended to checkpoints that failed to verify.
	CorruptSuffix = ".corrupt"
	// BestCheckpoint holds the best epoch's variables (Options.RestoreBest).
	BestCheckpoint = "best.flw"
)

// skipVariable: the learning rate is configuration, set anew by every Trainer.
func skipVariable(v *model.Variable) bool {
	return v.Path() == "/"+optimizer.Scope+"/"+optimizer.ParamLearningRate
}

// WriteCheckpoint writes state and every valued variable of store to path, atomically.
func WriteCheckpoint(path string, store *model.Store, state any) error {
	return container.Write(path, CheckpointMagic, 0o644, func(w *container.Writer) error {
		for v := range store.IterVariables() {
			if !v.HasValue() || skipVariable(v) {
				continue
			}
			val := v.MustValue()
			dt := strings.ToLower(val.DType().String())
			var err error
			if e := val.ConstBytes(func(b []byte) { err = w.Add(v.Path(), dt, val.Shape().Dimensions, b) }); e != nil {
				return e
			}
			if err != nil {
				return errors.WithMessagef(err, "variable %s", v.Path())
			}
		}
		return w.SetMeta(state)
	})
}

// Checkpoint is a checkpoint read back: its state (as JSON) and its tensors.
type Checkpoint struct {
	Path  string
	State json.RawMessage
	file  *container.File
}

// OpenCheckpoint opens and verifies a checkpoint file (see the container's checks). A file
// that is not a complete, valid checkpoint gives an error for which IsCorrupt is true.
func OpenCheckpoint(path string) (*Checkpoint, error) {
	f, err := container.Open(path, CheckpointMagic)
	if err != nil {
		return nil, errors.WithMessage(err, "checkpoint")
	}
	c := &Checkpoint{Path: path, file: f}
	if err := f.Meta(&c.State); err != nil {
		f.Close()
		return nil, err
	}
	return c, nil
}

// IsCorrupt reports whether err says a file is corrupt or incomplete (as opposed to, say,
// unreadable because of permissions).
func IsCorrupt(err error) bool { return container.IsCorrupt(err) }

// Close releases the file.
func (c *Checkpoint) Close() { c.file.Close() }

// Names lists the variable paths the checkpoint holds.
func (c *Checkpoint) Names() []string {
	out := make([]string, len(c.file.Tensors))
	for i, e := range c.file.Tensors {
		out[i] = e.Name
	}
	return out
}

// Float32 returns a copy of a float32 tensor's values and dims.
func (c *Checkpoint) Float32(name string) ([]float32, []int, error) {
	e, ok := c.file.Lookup(name)
	if !ok {
		return nil, nil, errors.Errorf("checkpoint %q has no tensor %q", c.Path, name)
	}
	v, err := c.file.Float32(e)
	if err != nil {
		return nil, nil, err
	}
	return append([]float32(nil), v...), e.Dims, nil
}

// Restore sets the store's variables from the checkpoint, creating the missing ones; only
// the tensors for which keep returns true (nil: all). A variable of another shape or dtype is
// an error naming it.
func (c *Checkpoint) Restore(store *model.Store, keep func(path string) bool) error {
	for _, e := range c.file.Tensors {
		if keep != nil && !keep(e.Name) {
			continue
		}
		dt, err := dtypes.DTypeString(e.DType)
		if err != nil {
			return errors.Errorf("checkpoint %q: tensor %q has unknown dtype %q", c.Path, e.Name, e.DType)
		}
		shape := shapes.Make(dt, e.Dims...)
		t := tensors.FromShape(shape)
		raw := c.file.Bytes(e)
		if err := t.MutableBytes(func(b []byte) { copy(b, raw) }); err != nil {
			return err
		}
		if v := store.GetVariable(e.Name); v != nil {
			if !v.Shape().Equal(shape) {
				return errors.Errorf("variable %s is %s in the model but %s in checkpoint %q", e.Name, v.Shape(), shape, c.Path)
			}
			if err := v.SetValue(t); err != nil {
				return err
			}
			continue
		}
		v, err := store.CreateVariable(e.Name, t)
		if err != nil {
			return errors.WithMessagef(err, "checkpoint %q", c.Path)
		}
		// Trainability belongs to the model: a variable that only the checkpoint has is state
		// (optimizer moments, statistics) until a model marks it.
		v.SetTrainable(false)
	}
	return nil
}

// checkpointPath returns the file name of the checkpoint at a step.
func checkpointPath(runDir string, step int64) string {
	return filepath.Join(runDir, fmt.Sprintf("%s%09d%s", ckptPrefix, step, ckptExt))
}

// ListCheckpoints returns the checkpoint files in runDir, newest (highest step) first.
// Temporary files of interrupted writes and corrupt files moved aside are not listed.
func ListCheckpoints(runDir string) ([]string, error) {
	entries, err := os.ReadDir(runDir)
	if err != nil {
		if os.IsNotExist(err) {
			return nil, nil
		}
		return nil, errors.Wrapf(err, "listing checkpoints in %q", runDir)
	}
	var names []string
	for _, e := range entries {
		if n := e.Name(); strings.HasPrefix(n, ckptPrefix) && strings.HasSuffix(n, ckptExt) {
			names = append(names, n)
		}
	}
	sort.Sort(sort.Reverse(sort.StringSlice(names))) // zero-padded steps sort numerically
	for i, n := range names {
		names[i] = filepath.Join(runDir, n)
	}
	return names, nil
}

// moveAside renames a corrupt checkpoint to <name>.corrupt, with a warning: it is never used,
// counted nor deleted by the trainer again.
func (t *Trainer) moveAside(path string, cause error) {
	dst := path + CorruptSuffix
	if err := os.Rename(path, dst); err != nil {
		t.logf("warning: %v; could not move it aside: %v\n", cause, err)
		return
	}
	t.logf("warning: %v; moved it to %s\n", cause, filepath.Base(dst))
}

// resume loads the newest checkpoint of the run folder that verifies, moving corrupt ones
// aside, and records which checkpoints are good (for retention).
func (t *Trainer) resume() error {
	names, err := ListCheckpoints(t.RunDir)
	if err != nil {
		return err
	}
	corrupt := 0
	for _, name := range names {
		c, err := OpenCheckpoint(name)
		if err != nil {
			if !IsCorrupt(err) {
				return err // unreadable (permissions, I/O): a broken environment, not a bad file
			}
			t.moveAside(name, err)
			corrupt++
			continue
		}
		if t.Resumed == "" {
			if err := t.resumeFrom(c); err != nil {
				c.Close()
				return err
			}
		}
		c.Close()
		// Every one that verifies is counted, also beyond KeepCheckpoints: a run killed
		// between writing a checkpoint and removing the oldest leaves one too many, and the
		// next SaveCheckpoint removes it.
		t.good = append(t.good, name)
	}
	if corrupt > 0 && t.Resumed == "" {
		t.logf("warning: none of the %d checkpoints of %s verifies (moved aside): training starts again from step 0\n", corrupt, t.RunDir)
	}
	return nil
}

func (t *Trainer) resumeFrom(c *Checkpoint) error {
	var st State
	if err := json.Unmarshal(c.State, &st); err != nil {
		return errors.Wrapf(err, "checkpoint %q: decoding its state", c.Path)
	}
	if t.CheckIdentity != nil {
		if err := t.CheckIdentity(st.Identity); err != nil {
			return errors.WithMessagef(err, "resuming from %q", c.Path)
		}
	} else if !bytes.Equal(st.Identity, t.State.Identity) {
		return errors.Errorf("resuming from %q: the run was started on other data (%s, now %s): use another run folder",
			c.Path, st.Identity, t.State.Identity)
	}
	if err := c.Restore(t.Store, nil); err != nil {
		return errors.WithMessagef(err, "resuming from %q", c.Path)
	}
	st.LR, st.Seed = t.LearningRate, t.Seed
	st.Identity = t.State.Identity
	t.State = st
	t.Resumed = c.Path
	return nil
}

func (t *Trainer) writeCheckpoint(path string) error { return WriteCheckpoint(path, t.Store, t.State) }

// SaveCheckpoint writes a checkpoint of the current state, then removes the good checkpoints
// beyond the KeepCheckpoints newest (and nothing else).
func (t *Trainer) SaveCheckpoint() error {
	path := checkpointPath(t.RunDir, t.State.Step)
	if err := t.writeCheckpoint(path); err != nil {
		return err
	}
	good := []string{path}
	for _, g := range t.good {
		if g != path {
			good = append(good, g)
		}
	}
	for _, old := range good[min(len(good), t.KeepCheckpoints):] {
		if err := os.Remove(old); err != nil && !os.IsNotExist(err) {
			t.logf("warning: removing the old checkpoint %s: %v\n", old, err)
		}
	}
	t.good = good[:min(len(good), t.KeepCheckpoints)]
	return nil
}

// loadWeightsFrom restores the model's variables (not the optimizer's) from a checkpoint.
func (t *Trainer) loadWeightsFrom(path string) error {
	c, err := OpenCheckpoint(path)
	if err != nil {
		return err
	}
	defer c.Close()
	return c.Restore(t.Store, func(p string) bool { return !strings.HasPrefix(p, "/"+AdamScope+"/") })
}

// ReadState reads the training state of a checkpoint file.
func ReadState(path string) (State, error) {
	var st State
	c, err := OpenCheckpoint(path)
	if err != nil {
		return st, err
	}
	defer c.Close()
	if err := json.Unmarshal(c.State, &st); err != nil {
		return st, errors.Wrapf(err, "checkpoint %q: decoding its state", path)
	}
	return st, nil
}
