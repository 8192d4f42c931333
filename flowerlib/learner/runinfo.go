package learner

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/flowerlib/flowers/flowerlib/head"
	"github.com/flowerlib/flowers/flowerlib/prepare"
	"github.com/flowerlib/flowers/flowerlib/resnet50"
	"github.com/flowerlib/flowers/flowerlib/trainer"
	"github.com/pkg/errors"
)

// RunInfoFile is the name of run.json in a run folder.
const RunInfoFile = "run.json"

// RunInfoFormat is the version of run.json's layout this flowers writes and the newest it
// reads (run.json files without one are format 1, written before it was recorded). Bump it
// when a field changes meaning; added fields need no bump. Format 2: the head is described by
// HeadInfo (a head written in code has a name and a fingerprint); format 1's head (the built-in
// one, by kind) is read as HeadInfo (legacyHead).
const RunInfoFormat = 2

// RunInfo is run.json: what a run folder was trained on, read back by Open (evaluate, predict)
// and checked on every resume. Paths are absolute (the weights too, when a file).
type RunInfo struct {
	Format    int       `json:"format"` // RunInfoFormat when written
	Data      string    `json:"data"`
	Weights   string    `json:"weights"`
	WeightsID string    `json:"weights_id"`
	CacheDir  string    `json:"cache_dir"`
	Head      HeadInfo  `json:"head"`
	Mode      string    `json:"mode"`
	ImageSize int       `json:"image_size"`
	Seed      int64     `json:"seed"`
	Classes   []string  `json:"classes"`
	Split     SplitInfo `json:"split"`
	DataKey   string    `json:"data_key"`
	FineTune  string    `json:"fine_tune,omitempty"` // the stage fine-tuned from, once FineTune ran
	// RunDir is the folder run.json was read from (not stored).
	RunDir string `json:"-"`
}

// HeadInfo is what run.json says of the head: its name, what it sees, its layers and its
// fingerprint (head.Description), and for the built-in head what rebuilds it.
type HeadInfo struct {
	Name        string       `json:"name"`
	BuiltIn     bool         `json:"built_in,omitempty"` // head.Article with Dropout
	Dropout     float64      `json:"dropout,omitempty"`
	Pooling     string       `json:"pooling"`
	Input       []int        `json:"input"`
	Fingerprint string       `json:"fingerprint"`
	Layers      []head.Layer `json:"layers"`
}

// SplitInfo is the train/validation split of a run. File names are kept byte-exact: a name
// that is not valid UTF-8 is stored as {"base64": …} (JSON strings cannot hold it).
type SplitInfo struct {
	Train      Paths `json:"train"`
	TrainCodes []int `json:"train_codes"`
	Valid      Paths `json:"valid"`
	ValidCodes []int `json:"valid_codes"`
}

// Paths is a list of file names that survives JSON byte for byte.
type Paths []string

type rawPath struct {
	Base64 string `json:"base64"`
}

// MarshalJSON writes valid UTF-8 names as strings and the others as {"base64": …}.
func (p Paths) MarshalJSON() ([]byte, error) {
	out := make([]any, len(p))
	for i, s := range p {
		if utf8.ValidString(s) {
			out[i] = s
		} else {
			out[i] = rawPath{Base64: base64.StdEncoding.EncodeToString([]byte(s))}
		}
	}
	return json.Marshal(out)
}

// UnmarshalJSON reads what MarshalJSON writes.
func (p *Paths) UnmarshalJSON(b []byte) error {
	var raw []json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	out := make(Paths, len(raw))
	for i, r := range raw {
		if len(r) > 0 && r[0] == '{' {
			var rp rawPath
			if err := json.Unmarshal(r, &rp); err != nil {
				return err
			}
			name, err := base64.StdEncoding.DecodeString(rp.Base64)
			if err != nil {
				return errors.Wrap(err, "a base64 file name")
			}
			out[i] = string(name)
			continue
		}
		if err := json.Unmarshal(r, &out[i]); err != nil {
			return err
		}
	}
	*p = out
	return nil
}

// dataKey hashes the split so a resume with another split is refused.
func dataKey(s SplitInfo) string {
	b, _ := json.Marshal(s)
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:16])
}

// LoadRunInfo reads runDir/run.json.
func LoadRunInfo(runDir string) (*RunInfo, error) {
	path := filepath.Join(runDir, RunInfoFile)
	data, err := os.ReadFile(path)
	if err != nil {
		if os.IsNotExist(err) {
			return nil, errors.Errorf("%q is not a run folder of `flowers train` (it has no %s): train first, or give the -run folder you trained into", runDir, RunInfoFile)
		}
		return nil, errors.Wrapf(err, "reading the run description")
	}
	var ri RunInfo
	if err := json.Unmarshal(data, &ri); err != nil {
		return nil, errors.Errorf("%s is damaged (%v); its checkpoints are not affected, so keep the run folder. "+
			"Restore run.json from a copy; or move it aside (mv %s %s.damaged) and run the same flowers train command again "+
			"(same -data, -weights, -head, -size and -seed): it resumes from the checkpoints only if their classes and split match, and writes run.json anew",
			path, err, path, path)
	}
	if ri.Format > RunInfoFormat {
		return nil, errors.Errorf("%s has format %d, written by a newer flowers (this one reads formats up to %d): use that version, or update flowers",
			path, ri.Format, RunInfoFormat)
	}
	if ri.Format < 2 {
		if err := ri.legacyHead(data); err != nil {
			return nil, errors.WithMessagef(err, "%s (format 1)", path)
		}
	}
	ri.RunDir = runDir
	return &ri, nil
}

// save writes run.json atomically, with the format version and a weights file's absolute
// path (so that the run is evaluated from any folder).
func (ri *RunInfo) save(runDir string) error {
	ri.Format = RunInfoFormat
	if _, isRandom, _ := resnet50.ParseRandomSpec(ri.Weights); !isRandom && ri.Weights != "" && ri.Weights != "imagenet" {
		abs, err := filepath.Abs(ri.Weights)
		if err != nil {
			return errors.Wrapf(err, "weights file %q", ri.Weights)
		}
		ri.Weights = abs
	}
	return trainer.WriteJSON(runDir, RunInfoFile, ri)
}

// Changes lists what differs between the run a folder holds (old) and the one asked for
// (ri): files added or removed, classes, head, weights, image size, mode. Empty means the
// run can resume.
func (ri *RunInfo) Changes(old *RunInfo) []string {
	var out []string
	if !slices.Equal(old.Classes, ri.Classes) {
		out = append(out, prepare.CompareClasses(old.Classes, ri.Classes).Error())
	}
	if old.DataKey != ri.DataKey {
		oldFiles := append(slices.Clone(old.Split.Train), old.Split.Valid...)
		newFiles := append(slices.Clone(ri.Split.Train), ri.Split.Valid...)
		added, removed := diff(newFiles, oldFiles), diff(oldFiles, newFiles)
		switch {
		case len(added)+len(removed) > 0:
			out = append(out, fmt.Sprintf("the photos changed: %s, %s", listSome(added, "added"), listSome(removed, "removed")))
		case old.Seed != ri.Seed:
			out = append(out, fmt.Sprintf("the split seed changed (%d, now %d)", old.Seed, ri.Seed))
		default:
			out = append(out, "the training/validation split changed")
		}
	}
	legacy := old.Head.Fingerprint == "" && old.Head.BuiltIn && ri.Head.BuiltIn // format 1: no fingerprint recorded
	if (!legacy && old.Head.Fingerprint != ri.Head.Fingerprint) || old.Head.Pooling != ri.Head.Pooling {
		out = append(out, fmt.Sprintf("the head changed: %s on the %s output (fingerprint %s), now %s on the %s output (fingerprint %s)",
			old.Head.Name, HeadInput(old.Head.Pooling), old.Head.Fingerprint, ri.Head.Name, HeadInput(ri.Head.Pooling), ri.Head.Fingerprint))
	}
	if old.WeightsID != ri.WeightsID {
		out = append(out, fmt.Sprintf("base weights %s (%s), now %s (%s)", old.Weights, old.WeightsID, ri.Weights, ri.WeightsID))
	}
	if old.ImageSize != ri.ImageSize {
		out = append(out, fmt.Sprintf("image size %d, now %d", old.ImageSize, ri.ImageSize))
	}
	if old.Mode != ri.Mode {
		out = append(out, fmt.Sprintf("mode %s, now %s", old.Mode, ri.Mode))
	}
	return out
}

func diff(a, b []string) []string {
	in := make(map[string]bool, len(b))
	for _, s := range b {
		in[s] = true
	}
	var out []string
	for _, s := range a {
		if !in[s] {
			out = append(out, s)
		}
	}
	return out
}

// listSome is "N what (class/a.jpg, class/b.jpg, …)".
func listSome(names []string, what string) string {
	if len(names) == 0 {
		return "none " + what
	}
	shown := make([]string, 0, 3)
	for _, n := range names[:min(3, len(names))] {
		shown = append(shown, fmt.Sprintf("%q", filepath.Join(filepath.Base(filepath.Dir(n)), filepath.Base(n))))
	}
	s := fmt.Sprintf("%d %s (%s", len(names), what, strings.Join(shown, ", "))
	if len(names) > 3 {
		s += ", …"
	}
	return s + ")"
}

// identity is what the trainer stores in checkpoints and checks on resume.
type identity struct {
	Classes []string `json:"classes"`
	DataKey string   `json:"data_key"`
	Stage   string   `json:"stage,omitempty"` // fine-tuning: the first trained layer
}

func (id identity) check(saved json.RawMessage) error {
	var old identity
	if err := json.Unmarshal(saved, &old); err != nil {
		return errors.Wrap(err, "decoding the checkpoint's data identity")
	}
	if err := prepare.CompareClasses(old.Classes, id.Classes); err != nil {
		return err
	}
	if old.Stage != id.Stage {
		return errors.Errorf("this fine-tuning run trains the base from %q, not %q: delete its folder to fine-tune from another layer",
			old.Stage, id.Stage)
	}
	if old.DataKey != id.DataKey {
		return errors.Errorf("the training/validation split differs from the one this run was started with (data key %q, now %q): use a new run folder, or the same data",
			old.DataKey, id.DataKey)
	}
	return nil
}

// legacyHead reads format 1's head, the built-in one by kind ("flatten", "avg", "max"), into
// HeadInfo: the article's head on the map or on pooled features. Its fingerprint was not
// recorded: Open rebuilds the head without comparing one, and a resume compares the pooling.
func (ri *RunInfo) legacyHead(data []byte) error {
	var old struct {
		Head struct {
			Kind    string  `json:"kind"`
			Dropout float64 `json:"dropout"`
			Grid    int     `json:"grid"`
		} `json:"head"`
	}
	if err := json.Unmarshal(data, &old); err != nil {
		return err
	}
	pooling := map[string]string{"flatten": "none", "avg": "avg", "max": "max"}[old.Head.Kind]
	if pooling == "" {
		return errors.Errorf("unknown head kind %q", old.Head.Kind)
	}
	input := []int{head.FeatureChannels}
	if pooling == "none" {
		g := old.Head.Grid
		if g == 0 {
			g = (ri.ImageSize + 31) / 32
		}
		input = []int{g, g, head.FeatureChannels}
	}
	ri.Head = HeadInfo{Name: BuiltInHead, BuiltIn: true, Dropout: old.Head.Dropout, Pooling: pooling, Input: input}
	return nil
}
