//! Streaming sample-rate conversion of a mono signal: a windowed-sinc low-pass at the input
//! rate (when shrinking the rate, so nothing above the new Nyquist folds back into speech), then
//! linear interpolation at the output instants. The low-passed signal is heavily oversampled
//! relative to its band, which is what keeps linear interpolation accurate.

/// Where the pass band ends, as a fraction of the output rate (7 kHz at 16 kHz).
const PASS_FRACTION: f64 = 0.4375;
/// Width of the transition band on each side of the cutoff, in Hz.
const HALF_TRANSITION_HZ: f64 = 1000.0;

pub struct Resampler {
    in_rate: u64,
    out_rate: u64,
    /// Symmetric low-pass taps; empty when no filtering is needed.
    taps: Vec<f32>,
    half: usize,
    /// Input not yet consumed; `pending[0]` is input sample number `pending_start`.
    pending: Vec<f32>,
    pending_start: u64,
    /// Number of the next output sample.
    next_out: u64,
    /// Input samples seen so far.
    total_in: u64,
}

impl Resampler {
    pub fn new(in_rate: u32, out_rate: u32) -> Self {
        let (in_rate, out_rate) = (u64::from(in_rate.max(1)), u64::from(out_rate.max(1)));
        let taps = if in_rate > out_rate {
            low_pass_taps(in_rate as f64, out_rate as f64)
        } else {
            Vec::new()
        };
        let half = taps.len() / 2;
        Self {
            in_rate,
            out_rate,
            taps,
            half,
            pending: Vec::new(),
            pending_start: 0,
            next_out: 0,
            total_in: 0,
        }
    }

    /// Appends the resampled form of `input` to `out`, holding back the few samples the filter
    /// still needs to look ahead.
    pub fn process(&mut self, input: &[f32], out: &mut Vec<f32>) {
        if self.in_rate == self.out_rate {
            out.extend_from_slice(input);
            return;
        }
        self.pending.extend_from_slice(input);
        self.total_in += input.len() as u64;
        self.emit(self.total_in, out);
    }

    /// Emits what is left at the end of the stream, treating the signal past its end as silence.
    pub fn finish(&mut self, out: &mut Vec<f32>) {
        if self.in_rate == self.out_rate {
            return;
        }
        self.pending.extend(std::iter::repeat_n(0.0, self.half + 2));
        let available = self.pending_start + self.pending.len() as u64;
        self.emit(available, out);
    }

    /// Emits every output sample whose neighbourhood lies within the first `available` input
    /// samples and before the end of the real input.
    fn emit(&mut self, available: u64, out: &mut Vec<f32>) {
        let reach = self.half as u64 + 1;
        loop {
            let position = self.next_out * self.in_rate;
            let index = position / self.out_rate;
            if index >= self.total_in || index + reach >= available {
                break;
            }
            let fraction = (position % self.out_rate) as f32 / self.out_rate as f32;
            let left = self.filtered(index);
            let value = if fraction == 0.0 {
                left
            } else {
                left + (self.filtered(index + 1) - left) * fraction
            };
            out.push(value);
            self.next_out += 1;
        }
        self.drop_consumed();
    }

    /// The low-passed input at sample `index`; samples before the stream start count as silence.
    fn filtered(&self, index: u64) -> f32 {
        if self.taps.is_empty() {
            return self.sample(index as i64);
        }
        let first = index as i64 - self.half as i64;
        self.taps
            .iter()
            .enumerate()
            .map(|(k, tap)| tap * self.sample(first + k as i64))
            .sum()
    }

    fn sample(&self, index: i64) -> f32 {
        let offset = index - self.pending_start as i64;
        if offset < 0 {
            return 0.0;
        }
        self.pending.get(offset as usize).copied().unwrap_or(0.0)
    }

    fn drop_consumed(&mut self) {
        let next_index = self.next_out * self.in_rate / self.out_rate;
        let keep_from = next_index
            .saturating_sub(self.half as u64 + 1)
            .max(self.pending_start);
        let consumed = ((keep_from - self.pending_start) as usize).min(self.pending.len());
        if consumed > 0 {
            self.pending.drain(..consumed);
            self.pending_start += consumed as u64;
        }
    }
}

/// A Blackman-windowed sinc low-pass for the input rate, normalised to unit gain at DC.
fn low_pass_taps(in_rate: f64, out_rate: f64) -> Vec<f32> {
    let cutoff = (PASS_FRACTION * out_rate + HALF_TRANSITION_HZ / 2.0) / in_rate;
    // Blackman: transition width of about 5.5 / N cycles per sample.
    let len = ((5.5 * in_rate / (2.0 * HALF_TRANSITION_HZ)).ceil() as usize) | 1;
    let middle = (len / 2) as f64;
    let mut taps: Vec<f64> = (0..len)
        .map(|i| {
            let x = i as f64 - middle;
            let sinc = if x == 0.0 {
                2.0 * cutoff
            } else {
                (2.0 * std::f64::consts::PI * cutoff * x).sin() / (std::f64::consts::PI * x)
            };
            let phase = 2.0 * std::f64::consts::PI * i as f64 / (len - 1) as f64;
            let window = 0.42 - 0.5 * phase.cos() + 0.08 * (2.0 * phase).cos();
            sinc * window
        })
        .collect();
    let gain: f64 = taps.iter().sum();
    taps.iter_mut().for_each(|t| *t /= gain);
    taps.into_iter().map(|t| t as f32).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sine(rate: u32, freq: f64, seconds: f64) -> Vec<f32> {
        let n = (f64::from(rate) * seconds) as usize;
        (0..n)
            .map(|i| {
                (0.5 * (2.0 * std::f64::consts::PI * freq * i as f64 / f64::from(rate)).sin())
                    as f32
            })
            .collect()
    }

    /// Resamples in uneven pieces, as a decoder hands them over.
    fn resample(input: &[f32], in_rate: u32, out_rate: u32) -> Vec<f32> {
        let mut resampler = Resampler::new(in_rate, out_rate);
        let mut out = Vec::new();
        for piece in input.chunks(1153) {
            resampler.process(piece, &mut out);
        }
        resampler.finish(&mut out);
        out
    }

    fn rms(samples: &[f32]) -> f64 {
        (samples.iter().map(|s| f64::from(*s).powi(2)).sum::<f64>() / samples.len() as f64).sqrt()
    }

    /// Frequency from the spacing of rising zero crossings.
    fn frequency(samples: &[f32], rate: u32) -> f64 {
        let crossings: Vec<f64> = samples
            .windows(2)
            .enumerate()
            .filter(|(_, w)| w[0] < 0.0 && w[1] >= 0.0)
            .map(|(i, w)| i as f64 + f64::from(w[0] / (w[0] - w[1])))
            .collect();
        let span = crossings[crossings.len() - 1] - crossings[0];
        (crossings.len() - 1) as f64 * f64::from(rate) / span
    }

    #[test]
    fn keeps_pitch_level_and_length_of_speech_band_tones() {
        for (in_rate, freq) in [
            (44_100, 1000.0),
            (48_000, 3150.0),
            (22_050, 440.0),
            (8_000, 700.0),
        ] {
            let input = sine(in_rate, freq, 2.0);
            let out = resample(&input, in_rate, 16_000);
            assert_eq!(out.len(), 32_000, "{in_rate} Hz input gives 2 s at 16 kHz");
            let steady = &out[1_000..31_000];
            assert!(
                (frequency(steady, 16_000) - freq).abs() < 0.5,
                "{in_rate} Hz: {}",
                frequency(steady, 16_000)
            );
            assert!(
                (rms(steady) - 0.5 / 2f64.sqrt()).abs() < 0.01,
                "{in_rate} Hz: rms {}",
                rms(steady)
            );
        }
    }

    #[test]
    fn removes_tones_above_the_new_nyquist_instead_of_folding_them() {
        // Without the low-pass, 12 kHz at 48 kHz would come out as a full-level 4 kHz tone.
        let out = resample(&sine(48_000, 12_000.0, 1.0), 48_000, 16_000);
        assert!(
            rms(&out[500..15_500]) < 0.003,
            "rms {}",
            rms(&out[500..15_500])
        );
    }

    #[test]
    fn same_rate_passes_samples_through() {
        let input = sine(16_000, 440.0, 0.1);
        assert_eq!(resample(&input, 16_000, 16_000), input);
    }

    #[test]
    fn holds_no_more_input_than_the_filter_needs() {
        let mut resampler = Resampler::new(48_000, 16_000);
        let mut out = Vec::new();
        for piece in sine(48_000, 500.0, 5.0).chunks(4096) {
            resampler.process(piece, &mut out);
            assert!(resampler.pending.len() <= resampler.taps.len() + 4096);
        }
    }
}
