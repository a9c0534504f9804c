"""Render Dance Frames: a range of the dance (start, count, stride) as an IMAGE batch, the same pictures as the
streaming renderer draws for those frames, refused with its size when over the memory limit."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from choreo.errors import ChoreoError
from choreo.render.dance_frames import iter_dance_frames
from choreo.render.frame_range import GIB, BatchTooLargeError, check_batch_bytes, image_batch_bytes, select_frames
from test_puppet import character, reference
from test_wan_dancer_bridge import dance


def test_select_frames_start_count_stride():
    assert select_frames(10, 0, 0, 1).tolist() == list(range(10))
    assert select_frames(10, 3, 3, 2).tolist() == [3, 5, 7]
    assert select_frames(10, 7, 5, 2).tolist() == [7, 9]  # a count past the end stops at the end
    for bad in ((10, 10, 1, 1), (10, -1, 1, 1), (10, 0, 1, 0), (10, 0, -1, 1)):
        with pytest.raises(ChoreoError):
            select_frames(*bad)


def test_batch_size_and_refusal_name_the_size_and_the_way_out():
    assert image_batch_bytes(2, 640, 480) == 2 * 640 * 480 * 3 * 4
    check_batch_bytes(GIB, 1.0, "x", "y")
    with pytest.raises(BatchTooLargeError, match=r"900 frames would take 1\.00 GiB as float32, over the limit of "
                                                 r"0\.5 GiB\. stream it"):
        check_batch_bytes(GIB, 0.5, "900 frames", "stream it")


def test_node_renders_the_range_as_the_streaming_renderer_draws_it(pack):
    pose = dance(3.0, 30.0)
    picture = torch.from_numpy(character()).float()[None] / 255.0
    node = pack.NODE_CLASS_MAPPINGS["ChoreoRenderDanceFrames"]()
    images, fps, next_start = node.render(pose, picture, "puppet", "dwpose", 10, 4, 5, 4.0,
                                          reference_pose=reference())
    assert images.shape == (4, pose.canvas_height, pose.canvas_width, 3) and images.dtype == torch.float32
    assert fps == 6.0 and next_start == 30
    whole = list(iter_dance_frames(pose, "puppet", reference_image=character(), reference_pose=reference()))
    for image, frame in zip(images, [10, 15, 20, 25]):
        assert torch.equal((image * 255.0).round().to(torch.uint8), torch.from_numpy(whole[frame]))
    rest, _, after = node.render(pose, picture, "skeleton_on_black", "dwpose", next_start, 0, 1, 4.0)
    assert rest.shape[0] == pose.num_frames - 30 and after == pose.num_frames


def test_node_refuses_a_batch_over_the_limit_before_rendering(pack):
    pose = dance(30.0, 30.0)
    picture = torch.from_numpy(character()).float()[None] / 255.0
    node = pack.NODE_CLASS_MAPPINGS["ChoreoRenderDanceFrames"]()
    size_gib = image_batch_bytes(pose.num_frames, pose.canvas_width, pose.canvas_height) / GIB
    with pytest.raises(ValueError, match=rf"900 frames of 192x288 would take {size_gib:.2f} GiB .*Render Dance to "
                                         r"Video File") as refused:
        node.render(pose, picture, "puppet", "dwpose", 0, 0, 1, 0.5)  # no reference_pose: rendering would fail
    assert refused.typename == "BatchTooLargeError"
    assert np.isclose(size_gib, 900 * 192 * 288 * 12 / GIB)
