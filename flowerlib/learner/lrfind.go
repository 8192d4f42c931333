package learner

import (
	"github.com/flowerlib/flowers/flowerlib/trainer"
	"github.com/pkg/errors"
)

// FindLR is fastai's learn.lr_find() for the head: Leslie Smith's learning-rate range test
// (trainer.FindLR) on the data Fit trains on — the cached frozen features in mode cached, so
// a sweep of 100 steps takes seconds. One Adam step per rate, the rates growing exponentially
// from opts.Start to opts.End (default 1e-7 to 10), until the smoothed loss diverges. It
// returns the loss-vs-rate curve (raw and smoothed) and two suggestions: Steep, the rate of
// steepest descent (the one to train with), and Minimum (a tenth of it is the older rule).
//
// The sweep changes nothing: the head's weights, the optimizer state, the random state and
// the run's position are restored, and nothing is written to the run folder, so Fit after
// FindLR trains exactly as it would have without it. Run it before Fit (a fresh head), or on
// a trained head to choose a rate for more epochs.
func (l *Learner) FindLR(opts trainer.LRFindOptions) (*trainer.LRFindResult, error) {
	if l.Trainer == nil {
		return nil, errors.New("learner.FindLR: the learner has no head trainer (use learner.New)")
	}
	logf(l.Log, "lr_find: the %s head on %d training examples, batch %d\n", l.HeadName, l.train.Len(), l.BatchSize)
	r, err := l.Trainer.FindLR(l.train, opts)
	if err != nil {
		return nil, errors.WithMessage(err, "learner.FindLR")
	}
	logf(l.Log, "lr_find: %d rates from %.1e to %.1e: steepest descent at %.2e, minimum at %.2e\n",
		len(r.LRs), r.LRs[0], r.LRs[len(r.LRs)-1], r.Steep, r.Minimum)
	return r, nil
}
