"""The beat choreographer on synthetic music analyses (click-track-like beat grids)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from choreo.errors import MotionInputError
from choreo.motion import metrics
from choreo.motion.choreographer import STYLES, choreograph, load_library, plan_choreography
from choreo.motion.choreographer.moves import MoveLibrary, parse_move
from choreo.motion.choreographer.planner import PlacedMove, PlannerConfig
from choreo.motion.choreographer.similarity import bar_distance_m, bar_path
from choreo.motion.choreographer.synthesis import SynthesisConfig, bounce, build_key_track, hit_clock, interpolate
from choreo.motion.choreographer.timing import HALF_TIME_INTERVAL_S, beat_grid, hit_beats_in_bar
from choreo.motion.joint_limits import clamp_to_joint_limits
from choreo.motion.skeleton import JOINT
from choreo.music.analysis import MusicAnalysis, Section

FPS = 30.0


def make_analysis(bpm: float = 100.0, beats_per_bar: int = 4, duration_s: float = 16.0, ramp_to_bpm: float | None = None,
                  sections: tuple[Section, ...] | None = None) -> MusicAnalysis:
    """A steady (or linearly ramping) beat grid with a slowly swelling loudness curve."""
    beats, t = [], 0.0
    while t < duration_s:
        beats.append(t)
        bpm_now = bpm if ramp_to_bpm is None else bpm + (ramp_to_bpm - bpm) * t / duration_s
        t += 60.0 / bpm_now
    beats = np.array(beats)
    num_frames = int(duration_s * FPS)
    in_bar = np.arange(len(beats)) % beats_per_bar
    rms = (0.55 + 0.35 * np.sin(np.arange(num_frames) / FPS * 0.4)).astype(np.float32)
    return MusicAnalysis(duration_s, FPS, bpm, np.full(num_frames, bpm, np.float32), beats, beats[in_bar == 0],
                         beats_per_bar, in_bar, rms.copy(), rms, sections or (Section(0.0, duration_s, "A"),))


CASES = {
    "100bpm_4/4": dict(bpm=100.0),
    "72bpm": dict(bpm=72.0),
    "180bpm": dict(bpm=180.0),
    "3/4": dict(bpm=90.0, beats_per_bar=3),
    "5/4": dict(bpm=110.0, beats_per_bar=5),
    "ramp_90_to_140": dict(bpm=90.0, ramp_to_bpm=140.0),
    "3/4_155bpm": dict(bpm=155.0, beats_per_bar=3),
}


@pytest.fixture(scope="module")
def dances():
    return {name: (analysis, choreograph(analysis, seed=7))
            for name, analysis in ((n, make_analysis(**kw)) for n, kw in CASES.items())}


def test_library_has_enough_valid_moves_and_styles():
    library = load_library()
    assert len(library.moves) >= 40
    assert len(library.styles) >= 4
    assert set(STYLES) == {"mixed", *library.styles}
    for move in library.moves:
        assert move.key_beats[0] == 0 and move.key_beats[-1] == move.beats
        assert np.all(np.diff(move.key_beats) > 0)
        assert 0.0 <= move.energy <= 1.0
        assert np.allclose(move.rotations.transpose(0, 1, 3, 2) @ move.rotations, np.eye(3), atol=1e-9)


def test_every_move_moves_hands_or_head_and_whole_beats_are_keyed():
    for move in load_library().moves:
        arms_and_head = [JOINT[n] for n in ("left_wrist", "right_wrist", "left_elbow", "right_elbow", "head", "neck",
                                            "left_shoulder", "right_shoulder")]
        spread = np.ptp(move.rotations[:, arms_and_head].reshape(len(move.key_beats), -1), axis=0).max()
        assert spread > 0.05, move.name
        assert set(range(move.beats + 1)) <= set(move.key_beats.tolist()), move.name


def test_move_validation_names_the_problem():
    good = json.loads((load_library.__globals__["LIBRARY_DIR"] / "pop.json").read_text())[0]
    bad = dict(good, keyframes=[dict(good["keyframes"][0], joints={"left_tail": [0, 0, 0]})] + good["keyframes"][1:])
    with pytest.raises(MotionInputError, match="left_tail"):
        parse_move(bad)
    late = dict(good, keyframes=good["keyframes"] + [dict(good["keyframes"][-1], beat=good["beats"] + 1)])
    with pytest.raises(MotionInputError, match="keyframe beats"):
        parse_move(late)


def test_unknown_style_lists_the_valid_ones():
    with pytest.raises(MotionInputError, match="hiphop"):
        choreograph(make_analysis(duration_s=4.0), style="polka")


@pytest.mark.parametrize("name", list(CASES))
def test_frame_count_fps_and_constant_bones(dances, name):
    analysis, motion = dances[name]
    assert motion.num_frames == analysis.num_frames and motion.fps == analysis.fps
    positions = motion.joint_positions().astype(np.float64)
    assert metrics.bone_length_std_m(positions) < 1e-5
    assert np.all(np.isfinite(positions))


def test_starts_at_origin_on_the_floor_facing_minus_y(dances):
    _, motion = dances["100bpm_4/4"]
    positions = motion.joint_positions().astype(np.float64)
    assert np.linalg.norm(positions[0, 0, :2]) < 0.1
    planted = positions[:, [7, 8, 10, 11], 2][motion.foot_contacts > 0.5]
    assert planted.min() > -0.02 and planted.max() < 0.12  # toes on z = 0, ankles a few cm up
    across = positions[0, JOINT["left_hip"]] - positions[0, JOINT["right_hip"]]
    facing = np.cross(across, [0.0, 0.0, 1.0])
    assert facing[1] < -0.9 * np.linalg.norm(facing)


def test_same_seed_same_dance_other_seed_other_dance():
    analysis = make_analysis(duration_s=10.0)
    first, again, other = (choreograph(analysis, seed=s) for s in (3, 3, 4))
    assert np.array_equal(first.rotations, again.rotations)
    assert np.array_equal(first.root_translation_m, again.root_translation_m)
    assert not np.allclose(first.rotations, other.rotations)


def test_plan_round_trips_through_choreograph():
    analysis = make_analysis(duration_s=10.0)
    plan = plan_choreography(analysis, seed=5, style="pop")
    assert np.array_equal(choreograph(analysis, seed=5, style="pop").rotations, choreograph(analysis, plan=plan).rotations)
    assert all(b.start_beat == a.start_beat + a.beats for a, b in zip(plan[:-1], plan[1:]))


@pytest.mark.parametrize("style", ["mixed", "hiphop", "waltz"])
def test_no_move_three_times_in_a_row(style):
    for seed in range(6):
        names = [item.name for item in plan_choreography(make_analysis(duration_s=40.0), seed=seed, style=style)]
        assert not any(a == b == c for a, b, c in zip(names, names[1:], names[2:]))


@pytest.mark.parametrize("name", list(CASES))
def test_planted_feet_do_not_slide(dances, name):
    _, motion = dances[name]
    assert motion.foot_contacts.mean() > 0.3
    assert metrics.foot_skating_m_per_s(motion.joint_positions(), motion.foot_contacts, motion.fps) < 0.01


@pytest.mark.parametrize("name", list(CASES))
def test_speed_dips_on_the_beats(dances, name):
    analysis, motion = dances[name]
    scores = metrics.shifted_beat_align_scores(motion.joint_positions(), analysis.beat_times_s * analysis.fps)
    assert scores[0.0] > np.mean([scores[0.25], scores[0.5], scores[0.75]])


@pytest.mark.parametrize("name", list(CASES))
def test_speed_stops_on_the_danced_beats(dances, name):
    """Most beats the dancer hits (all beats, or fewer in fast music) have a speed minimum within 2.5 frames.

    The speed is smoothed over at most a quarter of the hit interval (BAS's 5 frames blur hits 11 frames
    apart, every beat at 155 BPM, into one); the body's inertia moves some minima a frame off the beat.
    """
    analysis, motion = dances[name]
    grid = beat_grid(analysis)
    frames = grid.times_s[(grid.times_s * analysis.fps > 3) & (grid.times_s * analysis.fps < analysis.num_frames - 4)]
    hit_interval_frames = float(np.median(np.diff(grid.times_s))) * analysis.fps
    found = metrics.motion_beats(motion.joint_positions(), smoothing_sigma_frames=min(5.0, hit_interval_frames / 4))
    distance = np.min(np.abs(frames[:, None] * analysis.fps - found[None, :]), axis=1)
    assert np.mean(distance <= 2.5) > 0.7


@pytest.mark.parametrize("bpm, beats_per_bar", [(150.0, 4), (150.0, 3)])
def test_mixed_style_steps_every_beat_to_160_bpm_and_leaves_waltz_out(bpm, beats_per_bar):
    analysis = make_analysis(bpm=bpm, beats_per_bar=beats_per_bar, duration_s=20.0)
    grid = beat_grid(analysis)
    assert np.allclose(grid.times_s[:len(analysis.beat_times_s)], analysis.beat_times_s)
    library = load_library()
    for seed in range(6):
        styles = {library.by_name(item.name).style for item in plan_choreography(analysis, seed=seed)}
        assert "waltz" not in styles  # a waltz turns one step per bar this fast; "mixed" dances every beat
    scores = metrics.shifted_beat_align_scores(choreograph(analysis, seed=2).joint_positions(),
                                               analysis.beat_times_s * analysis.fps)
    assert scores[0.0] > scores[0.5] + 0.05 and scores[0.0] > np.mean([scores[f] for f in (0.25, 0.5, 0.75)])


@pytest.mark.parametrize("bpm, beats_per_bar", [(180.0, 4), (170.0, 3)])
def test_fast_music_in_mixed_style_is_danced_with_fewer_clear_hits(bpm, beats_per_bar):
    analysis = make_analysis(bpm=bpm, beats_per_bar=beats_per_bar, duration_s=20.0)
    grid = beat_grid(analysis)
    assert np.median(np.diff(grid.times_s)) >= HALF_TIME_INTERVAL_S
    assert set(np.round(grid.times_s[grid.times_s < 19.0], 6)) <= set(np.round(analysis.beat_times_s, 6))
    if beats_per_bar == 3:
        assert np.allclose(grid.times_s[:5], analysis.downbeat_times_s[:5])
    scores = metrics.shifted_beat_align_scores(choreograph(analysis, seed=2).joint_positions(),
                                               analysis.beat_times_s * analysis.fps)
    assert scores[0.0] > scores[0.5] + 0.05 and scores[0.0] > np.mean([scores[f] for f in (0.25, 0.5, 0.75)])


def test_hit_beats_in_bar_group_odd_meters():
    assert hit_beats_in_bar(4, 2) == (0, 2) and hit_beats_in_bar(3, 2) == (0,)
    assert hit_beats_in_bar(5, 2) == (0, 3) and hit_beats_in_bar(6, 2) == (0, 2, 4) and hit_beats_in_bar(4, 1) == (0, 1, 2, 3)


def test_repeated_sections_dance_the_same_moves():
    sections = (Section(0.0, 8.0, "verse"), Section(8.0, 16.0, "chorus"), Section(16.0, 24.0, "verse"),
                Section(24.0, 32.0, "chorus"))
    plan = plan_choreography(make_analysis(bpm=120.0, duration_s=32.0, sections=sections), seed=2)
    def names(first_beat: int) -> list[str]:
        return [item.name for item in plan if first_beat <= item.start_beat < first_beat + 16]
    assert names(0) == names(32) and names(16) == names(48)
    assert names(0) != names(16)


def test_transitions_are_no_jerkier_than_moves(dances):
    analysis, motion = dances["100bpm_4/4"]
    plan = plan_choreography(analysis, seed=7)
    grid_times = analysis.beat_times_s
    starts = [item.start_beat for item in plan[1:] if item.start_beat < len(grid_times)]
    transition_frames = np.rint(grid_times[starts] * analysis.fps).astype(int)
    positions = motion.joint_positions()
    profile = metrics.jerk_profile(positions, analysis.fps)
    near = np.zeros(len(profile), bool)
    for frame in transition_frames:
        near[max(0, frame - 2):frame + 3] = True
    assert metrics.max_jerk_at(positions, analysis.fps, transition_frames) <= profile[~near].max()


def test_louder_music_and_energy_scale_make_bigger_moves():
    analysis = make_analysis(duration_s=10.0)
    small, big = (choreograph(analysis, seed=1, energy_scale=s) for s in (0.5, 1.2))
    assert metrics.kinetic_speed(big.joint_positions()).mean() > metrics.kinetic_speed(small.joint_positions()).mean()


def test_regenerate_around_edits_keeps_frames_and_joins_smoothly():
    analysis = make_analysis(duration_s=12.0)
    kept = choreograph(analysis, seed=1)
    mask = np.ones(analysis.num_frames, bool)
    mask[120:240] = False
    result = choreograph(analysis, seed=9, keep=kept, keep_mask=mask)
    assert np.array_equal(result.rotations[mask], kept.rotations[mask])
    assert not np.allclose(result.rotations[150:210], kept.rotations[150:210])
    step = np.linalg.norm(np.diff(result.joint_positions(), axis=0), axis=-1).max(axis=-1)
    reference = np.linalg.norm(np.diff(kept.joint_positions(), axis=0), axis=-1).max(axis=-1).max()
    assert step.max() < 2.0 * reference
    with pytest.raises(MotionInputError, match="keep_mask"):
        choreograph(analysis, seed=9, keep=kept, keep_mask=mask[:-1])


def test_three_minutes_choreograph():
    """Runtime targets (< 2 s) live in bench/bench_choreography.py; here only the result is checked."""
    motion = choreograph(make_analysis(bpm=118.0, duration_s=180.0), seed=0)
    assert motion.num_frames == 5400
    assert np.all(np.isfinite(motion.rotations))


def test_fast_hiphop_keeps_full_tempo_hits_and_waltz_halves():
    analysis = make_analysis(bpm=170.0, duration_s=12.0)
    grid = beat_grid(analysis, "hiphop")
    assert np.allclose(grid.times_s[:len(analysis.beat_times_s)], analysis.beat_times_s)
    plan = plan_choreography(analysis, seed=4, style="hiphop")
    assert plan[-1].start_beat + plan[-1].beats >= len(analysis.beat_times_s)  # moves cover every beat
    motion = choreograph(analysis, seed=4, style="hiphop")
    scores = metrics.shifted_beat_align_scores(motion.joint_positions(), analysis.beat_times_s * analysis.fps)
    assert scores[0.0] > np.mean([scores[f] for f in (0.25, 0.5, 0.75)])
    assert metrics.foot_skating_m_per_s(motion.joint_positions(), motion.foot_contacts, motion.fps) < 0.01
    waltz = beat_grid(make_analysis(bpm=170.0, beats_per_bar=3, duration_s=12.0), "waltz")
    assert np.median(np.diff(waltz.times_s)) >= HALF_TIME_INTERVAL_S


def test_hit_clock_lands_every_key_on_its_time_and_slows_down_there():
    times = np.array([0.0, 0.5, 1.0, 1.25, 1.5, 2.0])
    hit = np.array([True, True, True, False, True, True])
    frames = np.linspace(0.0, 2.0, 401)
    clock = hit_clock(times, hit, frames, 0.0, hit_stop=0.9, hit_sharpness=0.5)
    on_key = np.isin(np.round(frames, 6), times)
    assert np.allclose(clock.phase_s[on_key], times)  # hits and the halfway "and" keep their times
    speed = np.gradient(clock.phase_s, frames)
    assert np.all(np.diff(clock.phase_s) >= 0)
    for t in (0.5, 1.0, 1.5):
        i = int(np.argmin(np.abs(frames - t)))
        assert speed[i] < 0.2 and speed[i] == pytest.approx(speed[i - 25:i + 26].min(), abs=1e-3)
    assert np.max(np.abs(np.diff(speed))) < 0.1  # no freeze-and-jolt: the speed changes smoothly


def test_pose_at_a_beat_is_the_hit_pose():
    times = np.array([0.0, 0.6, 1.2, 1.8])
    values = np.array([[0.0, 1.0], [2.0, -1.0], [1.0, 3.0], [0.5, 0.0]])
    hit = np.ones(4, bool)
    sampled = interpolate(times, values, hit, times, clock=hit_clock(times, hit, times, 0.0, 0.9, 0.5))
    assert np.allclose(sampled, values)


def test_pelvis_bounces_once_per_beat_between_hits():
    analysis = make_analysis(bpm=100.0, duration_s=8.0)
    grid = beat_grid(analysis, "hiphop")
    plan = plan_choreography(analysis, seed=3, style="hiphop")
    track = build_key_track(plan, load_library(), grid, analysis, 1.0)
    frames = np.arange(analysis.num_frames) / analysis.fps
    clock = hit_clock(track.times_s, track.hit, frames, 0.0)
    depth = bounce(clock, SynthesisConfig().groove_bounce_full_interval_s)
    for a, b in zip(grid.times_s[1:6], grid.times_s[2:7]):
        inside = (frames > a + 1e-6) & (frames < b - 1e-6)
        values = depth[inside]
        assert np.sum((values[1:-1] > values[:-2]) & (values[1:-1] >= values[2:])) == 1  # one dip per beat
        assert depth[np.argmin(np.abs(frames - a))] < 0.02  # back up on the beat
    motion = choreograph(analysis, seed=3, style="hiphop")
    pelvis_z = motion.root_translation_m[:, 2].astype(np.float64)
    lows = [np.argmin(pelvis_z[int(a * FPS):int(b * FPS) + 1]) + int(a * FPS)
            for a, b in zip(grid.times_s[2:8], grid.times_s[3:9])]
    mids = [(a + b) / 2 * FPS for a, b in zip(grid.times_s[2:8], grid.times_s[3:9])]
    assert np.median(np.abs(np.array(lows) - np.array(mids))) <= 3  # lowest mid-beat, not on the hit


def test_groove_keeps_the_body_moving_more_than_a_stiff_dance():
    analysis = make_analysis(bpm=100.0, duration_s=10.0)
    stiff = SynthesisConfig(groove_sway_m=0.0, groove_side_bend_deg=0.0, groove_bounce_m=0.0,
                            groove_chest_pump_deg=0.0, groove_arm_swing_deg=0.0, groove_elbow_pump_deg=0.0)
    plan = plan_choreography(analysis, seed=2, style="hiphop")
    grooving, still = (choreograph(analysis, plan=plan, style="hiphop", config=c) for c in (SynthesisConfig(), stiff))
    assert metrics.kinetic_speed(grooving.joint_positions()).mean() > 1.1 * metrics.kinetic_speed(
        still.joint_positions()).mean()
    waltz = choreograph(analysis, seed=2, style="waltz")
    assert metrics.kinetic_speed(waltz.joint_positions()).mean() < metrics.kinetic_speed(
        grooving.joint_positions()).mean()


def test_a_spin_turns_through_its_inner_beats_and_stops_on_its_last():
    """house_spin_drop keys 180° per beat: the heading keeps turning on the inner beat (a spin that stops
    on every beat jolts: its peak jerk was 10,000 m/s³ at 180 BPM) and rests once the turn is done."""
    analysis = make_analysis(bpm=120.0, duration_s=8.0)
    plan = (PlacedMove("house_spin_drop", 0, 4, False), PlacedMove("house_spin_drop", 4, 4, False))
    motion = choreograph(analysis, plan=plan, style="house")
    grid = beat_grid(analysis, "house")
    heading = np.unwrap(np.arctan2(motion.rotations[:, 0, 1, 0], motion.rotations[:, 0, 0, 0]))
    turn_rate = np.abs(np.gradient(heading)) * analysis.fps  # rad/s
    inner, done = (int(round(grid.times_s[beat] * analysis.fps)) for beat in (1, 3))
    assert turn_rate[inner] > 0.5 * turn_rate[: int(round(grid.times_s[2] * analysis.fps))].max()
    assert turn_rate[done] < 0.05 * turn_rate.max()
    profile = metrics.jerk_profile(motion.joint_positions(), analysis.fps)
    assert profile.max() < 3000.0


def test_every_move_has_a_one_sentence_description_and_one_without_is_refused():
    for move in load_library().moves:
        assert move.description.endswith(".") and move.description.count(". ") == 0, move.name
        assert len(move.description.split()) >= 6, move.name
    good = json.loads((load_library.__globals__["LIBRARY_DIR"] / "pop.json").read_text())[0]
    undescribed = {key: value for key, value in good.items() if key != "description"}
    with pytest.raises(MotionInputError, match=r"pop.json: move 'step_touch' lacks the field\(s\) description"):
        parse_move(undescribed, source="pop.json")
    with pytest.raises(MotionInputError, match="needs a description"):
        parse_move(dict(good, description="  "), source="pop.json")


def test_library_has_a_hundred_named_moves_with_at_least_fourteen_per_style():
    library = load_library()
    assert len(library.moves) >= 100
    assert all(len(library.of_style(style)) >= 14 for style in library.styles), {
        style: len(library.of_style(style)) for style in library.styles}
    for move in library.moves:
        assert move.tags and move.start_pose == move.end_pose == "stand", move.name


def test_every_keyframe_lies_inside_the_joint_limits():
    for move in load_library().moves:
        for rotations in (move.rotations, move.mirrored().rotations):
            assert np.allclose(clamp_to_joint_limits(rotations), rotations, atol=1e-9), move.name


@pytest.mark.parametrize("style", ["disco", "hiphop", "house", "latin", "pop", "waltz"])
def test_travelling_moves_stay_near_the_start_spot(style):
    """Moves that travel (grapevine, Suzie Q, promenade...) are mirrored back: over a minute the dancer
    never wanders more than a metre sideways."""
    library = load_library()
    for seed in range(4):
        plan = plan_choreography(make_analysis(bpm=120.0, beats_per_bar=3 if style == "waltz" else 4,
                                               duration_s=60.0), seed=seed, style=style, library=library)
        travel = [library.by_name(item.name).travel_m[0] * (-1.0 if item.mirrored else 1.0) for item in plan]
        assert np.abs(np.cumsum(travel)).max() < 1.0, (seed, np.abs(np.cumsum(travel)).max())


def _longest_similar_run(plan, beats_per_bar: int, library, tolerance_m: float) -> int:
    """Longest run of bars (from the plan start) whose keyframe paths lie within ``tolerance_m``."""
    end = plan[-1].start_beat + plan[-1].beats
    paths = [bar_path(plan, start, beats_per_bar, library.paths) for start in range(0, end - beats_per_bar + 1,
                                                                                      beats_per_bar)]
    best = run = 1
    for before, after in zip(paths[:-1], paths[1:]):
        run = run + 1 if bar_distance_m(before, after) < tolerance_m else 1
        best = max(best, run)
    return best


def test_differently_named_copies_of_a_move_never_fill_three_bars_in_a_row():
    entries = json.loads((load_library.__globals__["LIBRARY_DIR"] / "pop.json").read_text())
    roll, spin, hit = (next(e for e in entries if e["name"] == n) for n in ("arm_roll", "pop_spin", "pop_hit"))
    library = MoveLibrary(tuple(parse_move(dict(roll, name=f"arm_roll_{k}")) for k in "abc")
                          + (parse_move(spin), parse_move(hit), parse_move(dict(hit, name="pop_hit_b"))))
    analysis = make_analysis(bpm=120.0, duration_s=40.0)
    runs = {config: [_longest_similar_run(plan_choreography(analysis, seed, "pop", library, config), 4, library, 0.05)
                     for seed in range(6)]
            for config in (PlannerConfig(), PlannerConfig(similar_bar_m=0.0))}
    assert max(runs[PlannerConfig()]) <= 2
    assert max(runs[PlannerConfig(similar_bar_m=0.0)]) >= 3  # names alone let the copies repeat


@pytest.mark.parametrize("style", ["mixed", "hiphop", "latin", "waltz"])
def test_no_third_near_identical_bar_in_a_row(style):
    library = load_library()
    meter = 3 if style == "waltz" else 4
    for seed in range(4):
        plan = plan_choreography(make_analysis(bpm=110.0, beats_per_bar=meter, duration_s=40.0), seed, style, library)
        assert _longest_similar_run(plan, meter, library, PlannerConfig().similar_bar_m) <= 2, seed


@pytest.mark.parametrize("name", ["100bpm_4/4", "3/4", "5/4"])
def test_danced_bars_do_not_repeat_three_times(dances, name):
    analysis, motion = dances[name]
    downbeats = np.rint(analysis.downbeat_times_s * analysis.fps).astype(int)
    assert metrics.longest_similar_bar_run(motion.joint_positions(), downbeats, tolerance_m=0.05) <= 2
