package export

import "github.com/pkg/errors"

// WriteKeras writes m as a Keras model file (in progress).
func WriteKeras(path string, m *Model) error {
	return errors.New("export: -format keras is not written yet")
}
