package images

import "math"

// Resize returns src resized to width×height with bilinear interpolation on half-pixel
// centres and no antialiasing: the sampling of cv2.resize(src, (width, height),
// interpolation=INTER_LINEAR) and of torch.nn.functional.interpolate(mode='bilinear',
// align_corners=False, antialias=False). The source coordinate of output pixel i is
// (i+0.5)*in/out-0.5, clamped to [0, in-1]; results are rounded to the nearest integer.
//
// Measured against torch 1.13 interpolate on float32 copies of the same uint8 image
// (TestResizeMatchesTorch: 301×187 → 224×224, 400×250, 37×91): max |difference| 0.501
// (our rounding, plus torch's float32 weights), so the two agree within 1 level after
// rounding torch's output. cv2 computes the weights in 11-bit fixed
// point and may differ from both by 1 level on some pixels.
// x/image/draw.BiLinear is not used: it antialiases (widens the kernel) when shrinking.
func Resize(src *RGB, width, height int) *RGB {
	if src.Width == width && src.Height == height {
		return src.Clone()
	}
	dst := NewRGB(width, height)
	xofs, xw := linearCoeffs(src.Width, width)
	yofs, yw := linearCoeffs(src.Height, height)

	// Horizontal pass per source row, cached: consecutive output rows share source rows.
	rows := [2][]float32{make([]float32, width*3), make([]float32, width*3)}
	rowY := [2]int{-1, -1}
	hpass := func(sy int, out []float32) {
		s := src.Pix[sy*src.Width*3 : (sy+1)*src.Width*3]
		for dx := 0; dx < width; dx++ {
			x0 := xofs[dx] * 3
			x1 := x0
			if xofs[dx] < src.Width-1 {
				x1 += 3
			}
			a := xw[dx]
			o := out[dx*3 : dx*3+3 : dx*3+3]
			o[0] = float32(s[x0]) + a*(float32(s[x1])-float32(s[x0]))
			o[1] = float32(s[x0+1]) + a*(float32(s[x1+1])-float32(s[x0+1]))
			o[2] = float32(s[x0+2]) + a*(float32(s[x1+2])-float32(s[x0+2]))
		}
	}
	get := func(sy int) []float32 {
		for k := 0; k < 2; k++ {
			if rowY[k] == sy {
				return rows[k]
			}
		}
		// Replace the slot not holding the other row we need next (the lower y).
		k := 0
		if rowY[0] > rowY[1] {
			k = 1
		}
		hpass(sy, rows[k])
		rowY[k] = sy
		return rows[k]
	}
	for dy := 0; dy < height; dy++ {
		y0 := yofs[dy]
		y1 := min(y0+1, src.Height-1)
		r0 := get(y0)
		r1 := get(y1)
		b := yw[dy]
		out := dst.Pix[dy*width*3 : (dy+1)*width*3]
		for i := range out {
			v := r0[i] + b*(r1[i]-r0[i])
			out[i] = uint8(v + 0.5) // v is in [0, 255]
		}
	}
	return dst
}

// linearCoeffs returns, for each of out positions, the lower source index and the weight
// of the next one (half-pixel centres, clamped at both borders).
func linearCoeffs(in, out int) ([]int, []float32) {
	ofs := make([]int, out)
	w := make([]float32, out)
	scale := float64(in) / float64(out)
	for i := range out {
		f := (float64(i)+0.5)*scale - 0.5
		if f < 0 {
			f = 0
		}
		i0 := int(math.Floor(f))
		if i0 >= in-1 {
			ofs[i], w[i] = in-1, 0
			continue
		}
		ofs[i], w[i] = i0, float32(f-float64(i0))
	}
	return ofs, w
}
