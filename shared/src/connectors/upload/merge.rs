//! Joins the transcripts of overlapping chunks into one timeline: shifts each chunk's segments
//! by its start, orders them, and drops what both sides of a cut heard in the overlap.

use super::transcribe_client::TimedSegment;

/// Slack on time comparisons: services round segment times and place boundaries loosely.
const TIME_TOLERANCE_SECONDS: f64 = 0.5;
/// Longest run of words looked for where the end of one chunk's text repeats at the start of
/// the next chunk's text.
const MAX_REPEATED_WORDS: usize = 60;

/// A chunk's transcript, its segments timed from the chunk's own start.
#[derive(Debug, Clone, PartialEq)]
pub struct ChunkTranscript {
    pub start_seconds: f64,
    pub end_seconds: f64,
    pub segments: Vec<TimedSegment>,
}

/// One timeline for the whole recording, in seconds from its start.
pub fn merge_chunks(mut chunks: Vec<ChunkTranscript>) -> Vec<TimedSegment> {
    chunks.sort_by(|a, b| a.start_seconds.total_cmp(&b.start_seconds));
    let mut merged: Vec<TimedSegment> = Vec::new();
    let mut covered_until: Option<f64> = None;
    for chunk in chunks {
        let overlap = covered_until
            .filter(|end| *end > chunk.start_seconds)
            .map(|end| (chunk.start_seconds, end));
        for segment in chunk.segments {
            let mut segment = TimedSegment {
                start: chunk.start_seconds + segment.start,
                end: chunk.start_seconds + segment.end,
                text: segment.text,
            };
            if let Some((overlap_start, overlap_end)) = overlap {
                if segment.start < overlap_end {
                    match reconcile(&mut merged, &segment, overlap_start) {
                        Overlap::Repeated => continue,
                        Overlap::Continues(rest) => segment.text = rest,
                        Overlap::New => {}
                    }
                }
            }
            merged.push(segment);
        }
        covered_until =
            Some(covered_until.map_or(chunk.end_seconds, |end| end.max(chunk.end_seconds)));
    }
    merged.sort_by(|a, b| a.start.total_cmp(&b.start));
    merged
}

enum Overlap {
    /// Already in the timeline (kept there, in the fuller of the two wordings).
    Repeated,
    /// Starts with words the timeline already has; the rest is new.
    Continues(String),
    New,
}

/// Compares a segment heard in the overlap with what the earlier chunk heard at the same time.
fn reconcile(merged: &mut [TimedSegment], segment: &TimedSegment, overlap_start: f64) -> Overlap {
    let new_words = words(&segment.text);
    if new_words.is_empty() {
        return Overlap::Repeated;
    }
    let concurrent = merged
        .iter_mut()
        .rev()
        .take_while(|earlier| earlier.end + TIME_TOLERANCE_SECONDS > overlap_start)
        .filter(|earlier| {
            earlier.start < segment.end + TIME_TOLERANCE_SECONDS
                && segment.start < earlier.end + TIME_TOLERANCE_SECONDS
        });
    for earlier in concurrent {
        let earlier_words = words(&earlier.text);
        if contains_run(&earlier_words, &new_words) {
            // One sound heard on both sides of the cut lasts until the later chunk says.
            earlier.end = earlier.end.max(segment.end);
            return Overlap::Repeated;
        }
        if contains_run(&new_words, &earlier_words) {
            // The earlier chunk was cut mid-sentence; the later one heard all of it.
            earlier.text.clone_from(&segment.text);
            earlier.end = earlier.end.max(segment.end);
            return Overlap::Repeated;
        }
        let repeated = repeated_words(&earlier_words, &new_words);
        if repeated > 0 {
            let rest: Vec<&str> = segment.text.split_whitespace().skip(repeated).collect();
            return if rest.is_empty() {
                Overlap::Repeated
            } else {
                Overlap::Continues(rest.join(" "))
            };
        }
    }
    Overlap::New
}

/// Lower-case words without punctuation, as a comparison key.
fn words(text: &str) -> Vec<String> {
    text.split_whitespace()
        .map(|w| {
            w.chars()
                .filter(|c| c.is_alphanumeric())
                .flat_map(char::to_lowercase)
                .collect()
        })
        .collect()
}

fn contains_run(haystack: &[String], needle: &[String]) -> bool {
    !needle.is_empty()
        && needle.len() <= haystack.len()
        && haystack.windows(needle.len()).any(|w| w == needle)
}

/// How many words at the start of `next` repeat the end of `earlier`. One word alone is too
/// likely a coincidence ("the", "and") to drop.
fn repeated_words(earlier: &[String], next: &[String]) -> usize {
    let longest = earlier.len().min(next.len()).min(MAX_REPEATED_WORDS);
    (2..=longest)
        .rev()
        .find(|&n| earlier[earlier.len() - n..] == next[..n])
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seg(start: f64, end: f64, text: &str) -> TimedSegment {
        TimedSegment {
            start,
            end,
            text: text.into(),
        }
    }

    fn chunk(start: f64, end: f64, segments: Vec<TimedSegment>) -> ChunkTranscript {
        ChunkTranscript {
            start_seconds: start,
            end_seconds: end,
            segments,
        }
    }

    fn texts(segments: &[TimedSegment]) -> Vec<&str> {
        segments.iter().map(|s| s.text.as_str()).collect()
    }

    #[test]
    fn shifts_segments_by_their_chunk_start_and_orders_them() {
        let merged = merge_chunks(vec![
            chunk(100.0, 200.0, vec![seg(5.0, 9.0, "third")]),
            chunk(
                0.0,
                102.0,
                vec![seg(1.0, 3.0, "first"), seg(50.0, 60.0, "second")],
            ),
        ]);
        assert_eq!(texts(&merged), ["first", "second", "third"]);
        assert_eq!(merged[2].start, 105.0);
        assert_eq!(merged[2].end, 109.0);
    }

    #[test]
    fn a_segment_heard_by_both_chunks_appears_once() {
        // The cut at 60 s fell inside "tone 440" (57-61 s); the next chunk starts at 58 s.
        let merged = merge_chunks(vec![
            chunk(
                0.0,
                60.0,
                vec![seg(40.0, 50.0, "tone 300"), seg(57.0, 60.0, "tone 440")],
            ),
            chunk(
                58.0,
                120.0,
                vec![seg(0.0, 3.0, "Tone 440."), seg(5.0, 8.0, "tone 520")],
            ),
        ]);
        assert_eq!(texts(&merged), ["tone 300", "tone 440", "tone 520"]);
        assert_eq!(merged[1].start, 57.0);
    }

    #[test]
    fn a_sound_heard_across_several_chunks_stays_one_segment() {
        let merged = merge_chunks(vec![
            chunk(0.0, 10.0, vec![seg(1.0, 10.0, "hum")]),
            chunk(8.0, 18.0, vec![seg(0.0, 10.0, "hum")]),
            chunk(16.0, 26.0, vec![seg(0.0, 5.0, "hum")]),
        ]);
        assert_eq!(merged, vec![seg(1.0, 21.0, "hum")]);
    }

    #[test]
    fn keeps_the_fuller_wording_of_a_sentence_cut_at_the_chunk_end() {
        let merged = merge_chunks(vec![
            chunk(0.0, 30.0, vec![seg(27.0, 30.0, "we should ship")]),
            chunk(
                28.0,
                60.0,
                vec![
                    seg(0.0, 4.0, "We should ship on Friday."),
                    seg(5.0, 7.0, "Agreed."),
                ],
            ),
        ]);
        assert_eq!(texts(&merged), ["We should ship on Friday.", "Agreed."]);
        assert_eq!(merged[0].start, 27.0);
        assert_eq!(merged[0].end, 32.0);
    }

    #[test]
    fn trims_words_repeated_at_the_start_of_an_untimed_chunk() {
        // Models without timings answer one segment per chunk; the overlap repeats words.
        let merged = merge_chunks(vec![
            chunk(
                0.0,
                600.0,
                vec![seg(0.0, 600.0, "budget is approved. Next, the launch plan")],
            ),
            chunk(
                598.0,
                900.0,
                vec![seg(0.0, 302.0, "the launch plan: we start Monday.")],
            ),
        ]);
        assert_eq!(
            texts(&merged),
            [
                "budget is approved. Next, the launch plan",
                "we start Monday."
            ]
        );
    }

    #[test]
    fn keeps_new_speech_in_the_overlap_and_repeats_outside_it() {
        let merged = merge_chunks(vec![
            chunk(
                0.0,
                60.0,
                vec![seg(10.0, 12.0, "yes"), seg(55.0, 59.0, "first point")],
            ),
            // "yes" again, but long after the overlap: someone said it twice.
            chunk(
                58.0,
                120.0,
                vec![seg(1.5, 2.0, "second point"), seg(30.0, 31.0, "yes")],
            ),
        ]);
        assert_eq!(
            texts(&merged),
            ["yes", "first point", "second point", "yes"]
        );
    }

    #[test]
    fn a_single_shared_word_is_not_taken_for_a_repeat() {
        assert_eq!(repeated_words(&words("over to the"), &words("the end")), 0);
        assert_eq!(
            repeated_words(&words("over to the end"), &words("the end, thanks")),
            2
        );
    }
}
