package resnet50

import (
	"strconv"
	"strings"

	"github.com/pkg/errors"
)

// ParseRandomSpec parses a weights spec of the form "random" or "random:SEED" (seeded random
// weights in the Keras layout, see RandomWeights): isRandom is false for any other spec.
func ParseRandomSpec(spec string) (seed int64, isRandom bool, err error) {
	if spec != "random" && !strings.HasPrefix(spec, "random:") {
		return 0, false, nil
	}
	seed = 1
	if s, ok := strings.CutPrefix(spec, "random:"); ok {
		if seed, err = strconv.ParseInt(s, 10, 64); err != nil {
			return 0, true, errors.Errorf("weights %q: the seed after random: must be an integer, e.g. random:1", spec)
		}
	}
	return seed, true, nil
}
