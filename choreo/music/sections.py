"""Song form: section boundaries on bar lines and letters that mark repeats.

Bars are the unit (a dancer changes figures on phrase boundaries), described by
their mean chroma and timbre (MFCC). Two cues find the form:

* repetition: a run of bars that comes back later (a diagonal stripe in the
  bar self-similarity matrix) is a section, and both occurrences share a letter
  (verse, chorus, verse: A B A), even when the bars inside it all differ;
* homogeneity: where there is no repeat, Foote's checkerboard novelty splits the
  remaining bars where the sound changes.

``tidy_sections`` then states the contract every consumer relies on: bounds on
downbeats, no section shorter than a bar, no two neighbours with the same letter.
"""

from __future__ import annotations

import string

import numpy as np

from .analysis import Section

KERNEL_HALF_BARS = 2  # the novelty compares the 2 bars before a bar line with the 2 after
MIN_SECTION_BARS = 3
NOVELTY_THRESHOLD_STD = 0.5  # a boundary's novelty must exceed the mean by this many standard deviations
REPEAT_DISTANCE = 0.35  # cosine distance under which two sections count as the same part
REPEAT_SIMILARITY = 0.8  # bar-to-bar cosine similarity along a diagonal stripe that counts as a repeat
SHORTEST_BAR_FRACTION = 0.9  # a section this fraction of the median bar long is one bar (tempo drifts)


def _bar_features(bar_frames: np.ndarray, chroma: np.ndarray, mfcc: np.ndarray) -> np.ndarray:
    """(F, B) float per-bar mean of z-scored chroma and MFCC (coefficient 0, loudness, left out)."""
    stacked = np.vstack([chroma, mfcc[1:]])
    stacked = (stacked - stacked.mean(axis=1, keepdims=True)) / (stacked.std(axis=1, keepdims=True) + 1e-9)
    edges = np.concatenate([bar_frames, [stacked.shape[1]]])
    return np.stack([stacked[:, a:max(b, a + 1)].mean(axis=1) for a, b in zip(edges[:-1], edges[1:])], axis=1)


def _cosine_distance(a: np.ndarray, b: np.ndarray) -> float:
    return float(1.0 - a @ b / (np.linalg.norm(a) * np.linalg.norm(b) + 1e-9))


def bar_novelty(features: np.ndarray, half_width: int = KERNEL_HALF_BARS) -> np.ndarray:
    """(B,) Foote novelty of a boundary before each bar, from a (F, B) feature matrix.

    The self-similarity matrix (cosine) is correlated along its diagonal with a
    checkerboard kernel: +1 within the bars before and within the bars after, -1
    across. Edges are padded by reflection so the first bars are scored too.
    """
    unit = features / (np.linalg.norm(features, axis=0, keepdims=True) + 1e-9)
    similarity = unit.T @ unit
    padded = np.pad(similarity, half_width, mode="reflect")
    sign = np.concatenate([-np.ones(half_width), np.ones(half_width)])
    kernel = np.outer(sign, sign)
    kernel *= np.exp(-0.5 * (np.linspace(-1, 1, 2 * half_width) / 0.75) ** 2)[:, None] * \
        np.exp(-0.5 * (np.linspace(-1, 1, 2 * half_width) / 0.75) ** 2)[None, :]
    num_bars = similarity.shape[0]
    novelty = np.array([np.sum(padded[b:b + 2 * half_width, b:b + 2 * half_width] * kernel) for b in range(num_bars)])
    novelty[0] = 0.0
    return novelty


def _boundaries(novelty: np.ndarray) -> list[int]:
    """Bar indices starting a new section: novelty peaks above an adaptive threshold, spaced apart."""
    threshold = novelty[1:].mean() + NOVELTY_THRESHOLD_STD * novelty[1:].std()
    candidates = [b for b in range(1, len(novelty)) if novelty[b] > threshold
                  and novelty[b] >= novelty[max(b - 1, 0)] and novelty[b] >= novelty[min(b + 1, len(novelty) - 1)]]
    chosen: list[int] = []
    for bar in sorted(candidates, key=lambda b: -novelty[b]):
        edges = [0, *chosen, len(novelty)]
        if all(abs(bar - edge) >= MIN_SECTION_BARS for edge in edges):
            chosen.append(bar)
    return sorted(chosen)


def find_repeats(similarity: np.ndarray, min_bars: int = MIN_SECTION_BARS) -> list[tuple[int, int, int]]:
    """Non-overlapping repeated runs ``(first_bar, num_bars, lag_bars)``, longest first.

    similarity : (B, B) bar self-similarity. A run is a stretch of the diagonal at
    lag L where bar i resembles bar i + L for at least ``min_bars`` bars in a row.
    """
    num_bars = len(similarity)
    runs = []
    for lag in range(min_bars, num_bars - min_bars + 1):
        stripe = np.diagonal(similarity, offset=lag) > REPEAT_SIMILARITY
        start = None
        for index, similar in enumerate(np.append(stripe, False)):
            if similar and start is None:
                start = index
            elif not similar and start is not None:
                length = min(index - start, lag)
                if length >= min_bars:
                    runs.append((start, length, lag))
                start = None
    covered = np.zeros(num_bars, dtype=bool)
    chosen = []
    for start, length, lag in sorted(runs, key=lambda run: (-run[1], run[2])):
        first, second = slice(start, start + length), slice(start + lag, start + lag + length)
        if not covered[first].any() and not covered[second].any():
            covered[first] = covered[second] = True
            chosen.append((start, length, lag))
    return chosen


def _spans(num_bars: int, repeats: list[tuple[int, int, int]], novelty: np.ndarray) -> list[tuple[int, int, int]]:
    """Contiguous (start_bar, stop_bar, group) spans covering all bars; group -1 = not a repeat."""
    group = np.full(num_bars, -1)
    for index, (start, length, lag) in enumerate(repeats):
        group[start:start + length] = index
        group[start + lag:start + lag + length] = index
    spans = []
    bar = 0
    while bar < num_bars:
        stop = bar + 1
        while stop < num_bars and group[stop] == group[bar] and not (group[bar] >= 0 and _is_start(repeats, stop)):
            stop += 1
        if group[bar] < 0:
            cuts = [b for b in _boundaries(novelty) if bar + MIN_SECTION_BARS <= b <= stop - MIN_SECTION_BARS]
            edges = [bar, *cuts, stop]
            spans.extend((a, b, -1) for a, b in zip(edges[:-1], edges[1:]))
        else:
            spans.append((bar, stop, int(group[bar])))
        bar = stop
    merged: list[tuple[int, int, int]] = []
    for span in spans:
        if merged and span[2] < 0 and span[1] - span[0] < MIN_SECTION_BARS:
            previous = merged.pop()
            span = (previous[0], span[1], previous[2])
        merged.append(span)
    return merged


def _is_start(repeats: list[tuple[int, int, int]], bar: int) -> bool:
    return any(bar in (start, start + lag) for start, _, lag in repeats)


def segment_sections(downbeat_times_s: np.ndarray, duration_s: float, chroma: np.ndarray, mfcc: np.ndarray,
                     frame_rate_hz: float) -> tuple[Section, ...]:
    """Contiguous sections covering [0, duration_s), boundaries on downbeats, repeats share a label.

    downbeat_times_s : (M,) bar starts, seconds. chroma : (12, T), mfcc : (20, T) on the analysis clock.
    """
    bar_starts_s = np.asarray(downbeat_times_s, dtype=np.float64)
    if len(bar_starts_s) == 0 or bar_starts_s[0] > 0.0:
        bar_starts_s = np.concatenate([[0.0], bar_starts_s])
    num_bars = len(bar_starts_s)
    if num_bars < 2 * MIN_SECTION_BARS:
        return (Section(0.0, float(duration_s), "A"),)
    bar_frames = np.clip(np.rint(bar_starts_s * frame_rate_hz).astype(np.int64), 0, chroma.shape[1] - 1)
    features = _bar_features(bar_frames, chroma, mfcc)
    unit = features / (np.linalg.norm(features, axis=0, keepdims=True) + 1e-9)
    spans = _spans(num_bars, find_repeats(unit.T @ unit), bar_novelty(features))
    labels: list[str] = []
    letter_of_group: dict[int, str] = {}
    prototypes: list[np.ndarray] = []
    for start, stop, group in spans:
        if group >= 0 and group in letter_of_group:
            labels.append(letter_of_group[group])
            continue
        mean = features[:, start:stop].mean(axis=1)
        distances = [_cosine_distance(mean, p) for p in prototypes]
        if group < 0 and distances and min(distances) < REPEAT_DISTANCE:
            letter = string.ascii_uppercase[int(np.argmin(distances)) % 26]
        else:
            letter = string.ascii_uppercase[len(prototypes) % 26]
            prototypes.append(mean)
        if group >= 0:
            letter_of_group[group] = letter
        labels.append(letter)
    starts_s = [0.0] + [float(bar_starts_s[start]) for start, _, _ in spans[1:]]
    ends_s = starts_s[1:] + [float(duration_s)]
    sections = tuple(Section(s, e, label) for s, e, label in zip(starts_s, ends_s, labels))
    return tidy_sections(sections, downbeat_times_s, duration_s)


def tidy_sections(sections: tuple[Section, ...], downbeat_times_s: np.ndarray,
                  duration_s: float) -> tuple[Section, ...]:
    """Sections a dancer can count: bounds on downbeats, none shorter than a bar, neighbours differ.

    sections         : contiguous, covering [0, duration_s), in time order.
    downbeat_times_s : (M,) bar starts, seconds.
    Each inner bound moves to the nearest downbeat (a figure starts on "one"). A section then shorter
    than SHORTEST_BAR_FRACTION of the bar it starts in (a pickup before the first downbeat, a tail after
    the last, a bound snapped onto its neighbour's) joins the previous section (the first joins the next).
    Neighbours with the same letter become one section, and letters are renamed A, B, C... in order of
    first appearance so none is skipped.

    >>> tidy_sections((Section(0, 0.3, "A"), Section(0.3, 9, "B"), Section(9, 12, "B")), np.arange(0.3, 12, 2), 12)
    (Section(start_s=0.0, end_s=12.0, label='A'),)
    """
    downbeats_s = np.asarray(downbeat_times_s, dtype=np.float64)
    if len(downbeats_s) < 2:
        return _merge_same_letters([[s.start_s, s.end_s, s.label] for s in sections])
    bars_s = np.diff(downbeats_s)
    starts_s = [0.0] + [float(downbeats_s[np.argmin(np.abs(downbeats_s - s.start_s))]) for s in sections[1:]]
    spans = [[start, end, s.label] for start, end, s in zip(starts_s, starts_s[1:] + [float(duration_s)], sections)]
    while len(spans) > 1:
        bar_index = np.clip(np.searchsorted(downbeats_s, [start for start, _, _ in spans], "right") - 1,
                            0, len(bars_s) - 1)
        shortfall = [end - start - SHORTEST_BAR_FRACTION * bars_s[bar]
                     for (start, end, _), bar in zip(spans, bar_index)]
        short = int(np.argmin(shortfall))
        if shortfall[short] >= 0:
            break
        into = short + 1 if short == 0 else short - 1
        spans[into][0], spans[into][1] = min(spans[into][0], spans[short][0]), max(spans[into][1], spans[short][1])
        del spans[short]
    return _merge_same_letters(spans)


def _merge_same_letters(spans: list[list]) -> tuple[Section, ...]:
    """Sections from [start_s, end_s, label] spans: same-letter neighbours joined, letters renamed A, B, ..."""
    merged: list[list] = []
    for span in spans:
        if merged and merged[-1][2] == span[2]:
            merged[-1][1] = span[1]
        else:
            merged.append(list(span))
    letters: dict[str, str] = {}
    for _, _, label in merged:
        letters.setdefault(label, string.ascii_uppercase[len(letters) % 26])
    return tuple(Section(start, end, letters[label]) for start, end, label in merged)
