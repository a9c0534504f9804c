"""The groove's step: under moves that keep both feet planted, the foot the weight leaves lifts and lands on the beat."""

from __future__ import annotations

import numpy as np

from choreo.motion.choreographer import choreograph
from choreo.motion.choreographer.planner import PlacedMove
from choreo.motion.choreographer.synthesis import HitClock, SynthesisConfig, step_lift
from choreo.motion.skeleton import JOINT

from test_choreographer import FPS, make_analysis


def _clock(interval_s: float, intervals: int) -> HitClock:
    """Hits every ``interval_s`` from t = 0, sampled at 30 fps (an uneased clock is enough for the lift)."""
    t = np.arange(int(intervals * interval_s * FPS)) / FPS
    index = np.floor(t / interval_s + 1e-9).astype(np.int64)
    linear = t / interval_s - index
    return HitClock(t, index, linear, linear, np.full(len(t), interval_s))


def test_lift_alternates_feet_lands_before_the_hit_and_skips_intervals_with_a_foot_up():
    clock = _clock(0.6, 4)
    both = np.ones(len(clock.interval), bool)
    both[clock.interval == 2] = False  # the move lifts a foot itself in the third interval: no groove step
    lift, foot = step_lift(clock, both, max_lift_s=0.45, land_fraction=0.1, full_height_interval_s=0.6)
    for interval, expected_foot in ((0, 0), (1, 1), (3, 1)):
        inside = clock.interval == interval
        assert lift[inside].max() > 0.95  # full height at the full-height tempo
        assert np.all(foot[inside] == expected_foot)
        up = inside & (lift > 0)
        # Up for at most 0.45 s and down again 10 % of the interval (60 ms) before the next hit.
        assert (up.sum() - 1) / FPS <= 0.45 + 1e-9  # frames strictly inside a 0.45-s window
        assert clock.linear[up].max() < 0.9
        assert lift[inside & (clock.linear < 0.1)].max() == 0.0  # still planted as the interval starts
    assert np.all(lift[clock.interval == 2] == 0.0)


def test_faster_hits_lift_lower_as_the_square_of_the_interval():
    slow, fast = _clock(0.6, 6), _clock(0.3, 12)
    lift_slow, _ = step_lift(slow, np.ones(len(slow.interval), bool), 0.45, 0.1, 0.6)
    lift_fast, _ = step_lift(fast, np.ones(len(fast.interval), bool), 0.45, 0.1, 0.6)
    assert abs(lift_slow.max() - 1.0) < 0.05
    assert abs(lift_fast.max() - 0.25) < 0.03


def test_a_both_feet_move_is_danced_with_steps_that_land_on_the_beats():
    analysis = make_analysis(bpm=100.0, duration_s=8.0)
    plan = tuple(PlacedMove("shimmy", start, 2, False) for start in range(0, 12, 2))
    stepping = choreograph(analysis, plan=plan, style="disco")
    still = choreograph(analysis, plan=plan, style="disco",
                        config=SynthesisConfig(groove_step_scale=0.0))
    ankles = [JOINT["left_ankle"], JOINT["right_ankle"]]
    height = stepping.joint_positions()[:, ankles, 2]
    floor = still.joint_positions()[:, ankles, 2].min()
    assert height.max() - floor > 0.05  # a foot clears the floor by several centimetres
    assert still.foot_contacts[:, :2].min() > 0.5  # without the step both feet stay planted throughout
    beat_frames = np.round(analysis.beat_times_s[2:-1] * FPS).astype(int)
    # On every beat after the groove has faded in, both feet are down and planted.
    assert np.all(stepping.foot_contacts[beat_frames, :2] > 0.5)
    lifted = stepping.foot_contacts[:, :2] < 0.5
    assert lifted[:, 0].any() and lifted[:, 1].any()  # both feet take turns
    speed = np.linalg.norm(np.diff(stepping.joint_positions()[:, ankles], axis=0), axis=-1) * FPS
    still_speed = np.linalg.norm(np.diff(still.joint_positions()[:, ankles], axis=0), axis=-1) * FPS
    assert speed.mean() > 2 * still_speed.mean()


def test_a_lifted_ankle_leaves_and_lands_with_zero_speed_while_the_body_moves():
    """The swing between two plants starts and ends at rest even when the free ankle's keyed path is moving."""
    from choreo.motion.choreographer.foot_lock import _ankle_targets

    frames = 40
    free = np.zeros((frames, 3))
    free[:, 0] = np.linspace(0.0, 0.6, frames)  # the body carries the keyed ankle sideways at 0.46 m/s
    free[:, 2] = 0.1 + 0.1 * np.sin(np.linspace(0.0, np.pi, frames)) ** 2
    planted = np.zeros(frames, bool)
    planted[:10] = planted[30:] = True
    target = _ankle_targets(free, planted, floor_z=0.1)
    assert np.allclose(target[:10], target[0]) and np.allclose(target[30:], target[30])  # locked while planted
    speed = np.linalg.norm(np.diff(target, axis=0), axis=-1) * FPS
    # Lift-off and touch-down nearly at rest: a tenth of the body speed the ankle would otherwise jump to.
    assert speed[9] < 0.046 and speed[29] < 0.046
    assert speed[15:25].max() > 0.3  # and it does travel in between
    assert target[10:30, 2].max() > 0.15  # keeping the keyed lift
