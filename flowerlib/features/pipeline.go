package features

import "github.com/flowerlib/flowers/flowerlib/images"

// prefetchDepth is how many decoded batches may wait ready for the base while it runs on the
// current one. images.Batches alone decodes only about 2×workers images ahead of the batch
// being read (4 of 32 on 2 cores), so without read-ahead the base and the decoders mostly take
// turns; with one batch ahead, decoding and resizing the next batch overlap the base's run.
// Memory: one more batch of pixels (32 × 224² × 3 float32: 19 MB) besides the one in the base.
// 0 reads each batch when the base asks for it (no overlap: the reference in tests).
var prefetchDepth = 1

// prefetchBatches returns next, which gives it's batches in order (nil at the end), read on
// a goroutine of its own at most depth complete batches ahead of the caller, and stop, which
// ends the reading early (it closes it) and waits for that goroutine; stop is safe to call
// more than once and after the end. it.Err and it.Failures may be read once next returned nil.
// With depth ≤ 0 next is it.Next.
func prefetchBatches(it *images.Batches, depth int) (next func() *images.Batch, stop func()) {
	if depth <= 0 {
		return it.Next, func() {}
	}
	// The goroutine holds one finished batch while it waits to hand it over; the channel
	// holds depth−1 more.
	out := make(chan *images.Batch, depth-1)
	quit, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		defer close(out)
		for b := it.Next(); b != nil; b = it.Next() {
			select {
			case out <- b:
			case <-quit:
				return
			}
		}
	}()
	stopped := false
	next = func() *images.Batch { return <-out } // nil once out is closed
	return next, func() {
		if stopped {
			return
		}
		stopped = true
		close(quit)
		it.Close() // a Next waiting on the decoders returns early
		<-done
	}
}
