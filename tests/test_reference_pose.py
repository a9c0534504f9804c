"""Reference poses: from POSE_KEYPOINT, the default body, and ONNX whole-body detection.

The detection tests build tiny ONNX models with known behaviour: one puts SimCC
peaks at designed bins, one finds a bright spot (its SimCC logits are the crop's
column and row maxima), one is a detector with fixed boxes.
"""

import numpy as np
import pytest

from choreo.errors import ChoreoError, ImageInputError, PoseInputError
from choreo.pose import rtmpose
from choreo.pose.layout import B, FACE, LEFT_HAND, RIGHT_HAND
from choreo.pose.reference import default_reference_pose, detect_reference_pose, reference_from_pose_keypoint

K = 133
POSE_W, POSE_H = 48, 64


def _onnx():
    """(onnx, helper, numpy_helper, TensorProto): the optional ``onnx`` package builds the test models; the
    tests that build one skip without it."""
    onnx = pytest.importorskip("onnx")
    return onnx, onnx.helper, onnx.numpy_helper, onnx.TensorProto


def _save(graph, path):
    onnx, helper, _, _ = _onnx()
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def _image_input(width, height):
    _, helper, _, TensorProto = _onnx()
    return helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, 3, height, width])


def designed_pose_model(path, simcc_x, simcc_y):
    """Outputs fixed SimCC logits (plus 0 x the input so the input is used)."""
    _, helper, numpy_helper, TensorProto = _onnx()
    nodes = [helper.make_node("ReduceSum", ["image"], ["total"], keepdims=1),
             helper.make_node("Mul", ["total", "zero"], ["nothing"])]
    inits = [numpy_helper.from_array(np.zeros((1, 1, 1, 1), np.float32), "zero")]
    for name, logits in (("simcc_x", simcc_x), ("simcc_y", simcc_y)):
        inits.append(numpy_helper.from_array(logits[None, None].astype(np.float32), f"{name}_const"))
        nodes.append(helper.make_node("Add", ["nothing", f"{name}_const"], [f"{name}_4d"]))
        nodes.append(helper.make_node("Squeeze", [f"{name}_4d", "axes01"], [name]))
    inits.append(numpy_helper.from_array(np.array([0], np.int64), "axes01"))
    outputs = [helper.make_tensor_value_info("simcc_x", TensorProto.FLOAT, [1, K, 2 * POSE_W]),
               helper.make_tensor_value_info("simcc_y", TensorProto.FLOAT, [1, K, 2 * POSE_H])]
    return _save(helper.make_graph(nodes, "designed", [_image_input(POSE_W, POSE_H)], outputs, inits), path)


def spot_pose_model(path):
    """SimCC logits = column / row maxima of channel 0, each bin doubled (split ratio 2), for all 133 points."""
    _, helper, numpy_helper, TensorProto = _onnx()
    nodes, inits = [], [numpy_helper.from_array(np.array([0], np.int64), "c0"),
                        numpy_helper.from_array(np.array([1], np.int64), "c1"),
                        numpy_helper.from_array(np.array([1], np.int64), "ax1"),
                        numpy_helper.from_array(np.array([1, K, 1], np.int64), "tiles")]
    nodes.append(helper.make_node("Slice", ["image", "c0", "c1", "ax1"], ["red"]))  # (1, 1, H, W)
    for name, axis, size in (("simcc_x", 2, POSE_W), ("simcc_y", 3, POSE_H)):
        inits.append(numpy_helper.from_array(np.array([1, 1, 2 * size], np.int64), f"{name}_shape"))
        nodes += [helper.make_node("ReduceMax", ["red"], [f"{name}_sum"], axes=[axis], keepdims=1),
                  helper.make_node("Reshape", [f"{name}_sum", f"{name}_col"], [f"{name}_c"]),
                  helper.make_node("Concat", [f"{name}_c", f"{name}_c"], [f"{name}_pair"], axis=2),
                  helper.make_node("Reshape", [f"{name}_pair", f"{name}_shape"], [f"{name}_one"]),
                  helper.make_node("Tile", [f"{name}_one", "tiles"], [name])]
        inits.append(numpy_helper.from_array(np.array([1, size, 1], np.int64), f"{name}_col"))
    outputs = [helper.make_tensor_value_info("simcc_x", TensorProto.FLOAT, [1, K, 2 * POSE_W]),
               helper.make_tensor_value_info("simcc_y", TensorProto.FLOAT, [1, K, 2 * POSE_H])]
    return _save(helper.make_graph(nodes, "spot", [_image_input(POSE_W, POSE_H)], outputs, inits), path)


def fixed_detector_model(path, boxes_scores, size=64):
    """A YOLOX stand-in with fixed output: (1, N, 5) end-to-end boxes, or (1, N, 5 + C) raw predictions."""
    _, helper, numpy_helper, TensorProto = _onnx()
    nodes = [helper.make_node("ReduceSum", ["image"], ["total"], keepdims=1),
             helper.make_node("Mul", ["total", "zero"], ["nothing"]),
             helper.make_node("Squeeze", ["nothing", "ax0"], ["nothing3"]),
             helper.make_node("Add", ["nothing3", "dets_const"], ["dets"])]
    inits = [numpy_helper.from_array(np.zeros((1, 1, 1, 1), np.float32), "zero"),
             numpy_helper.from_array(np.array([0], np.int64), "ax0"),
             numpy_helper.from_array(np.asarray(boxes_scores, np.float32)[None], "dets_const")]
    shape = [1, *np.shape(boxes_scores)]
    outputs = [helper.make_tensor_value_info("dets", TensorProto.FLOAT, shape)]
    return _save(helper.make_graph(nodes, "det", [_image_input(size, size)], outputs, inits), path)


def _peaks(locations, length, values):
    logits = np.zeros((K, length), np.float32)
    logits[np.arange(K), locations] = values
    return logits


def test_designed_simcc_peaks_come_out_at_the_designed_image_positions(tmp_path):
    rng = np.random.default_rng(3)
    ix, iy = rng.integers(0, 2 * POSE_W, K), rng.integers(0, 2 * POSE_H, K)
    values = np.ones(K)
    values[B["nose"]] = 0.1  # COCO 0 is the nose: below threshold
    path = designed_pose_model(tmp_path / "pose.onnx", _peaks(ix, 2 * POSE_W, values), _peaks(iy, 2 * POSE_H, values))
    image = np.zeros((100, 200, 3), np.uint8)
    seq = detect_reference_pose(image, path)
    # Whole-image box (0, 0, 200, 100) padded 1.25 -> 250 x 125, widened to 48:64 -> 250 x 333.3.
    scale = np.array([250.0, 250.0 * POSE_H / POSE_W])
    expected = (np.stack([ix, iy], 1) / 2.0) / np.array([POSE_W, POSE_H]) * scale + np.array([100.0, 50.0]) - scale / 2
    kp, conf = seq.keypoints_px[0], seq.confidence[0]
    assert (seq.canvas_width, seq.canvas_height, seq.num_frames) == (200, 100, 1)
    np.testing.assert_allclose(kp[B["left_eye"]], expected[1], atol=1e-3)
    np.testing.assert_allclose(kp[B["right_ankle"]], expected[16], atol=1e-3)
    np.testing.assert_allclose(kp[18], expected[17], atol=1e-3)  # left big toe
    np.testing.assert_allclose(kp[FACE.start], expected[23], atol=1e-3)
    np.testing.assert_allclose(kp[LEFT_HAND.start], expected[91], atol=1e-3)
    np.testing.assert_allclose(kp[RIGHT_HAND.stop - 1], expected[132], atol=1e-3)
    np.testing.assert_allclose(kp[B["neck"]], (expected[5] + expected[6]) / 2, atol=1e-3)
    np.testing.assert_allclose(kp[FACE.start + 68], expected[2], atol=1e-3)  # right pupil = right eye
    assert conf[B["nose"]] == 0 and conf[B["neck"]] == 1 and conf.sum() == 136 - 1


def test_spot_model_finds_a_bright_spot_through_crop_and_inverse_affine(tmp_path):
    path = spot_pose_model(tmp_path / "spot.onnx")
    image = np.zeros((120, 160, 3), np.uint8)
    image[38:43, 108:113] = 255
    seq = detect_reference_pose(image, path)
    np.testing.assert_allclose(seq.keypoints_px[0, B["left_wrist"]], [110, 40], atol=4.0)


def test_detector_box_narrows_the_crop_to_the_largest_confident_person(tmp_path):
    pose = spot_pose_model(tmp_path / "spot.onnx")
    # Detector input 64x64; a 160x120 image is scaled by 0.4. A confident box around the
    # spot and a bigger box below the score threshold.
    det = fixed_detector_model(tmp_path / "det.onnx", [[36, 8, 52, 24, 0.9], [0, 0, 64, 48, 0.1]])
    image = np.zeros((120, 160, 3), np.uint8)
    image[38:43, 108:113] = 255
    session = rtmpose.load_session(det, "Person detector")
    np.testing.assert_allclose(rtmpose.detect_largest_person(session, image), [90, 20, 130, 60], atol=1e-4)
    seq = detect_reference_pose(image, pose, det_model_path=det)
    np.testing.assert_allclose(seq.keypoints_px[0, B["left_wrist"]], [110, 40], atol=1.5)


def test_raw_yolox_grid_predictions_are_decoded(tmp_path):
    raw = np.zeros((64 + 16 + 4, 6), np.float32)  # strides 8, 16, 32 on a 64x64 input
    raw[3 * 8 + 5] = [0.5, 0.5, np.log(2.0), np.log(2.0), 0.9, 1.0]  # stride-8 cell (5, 3)
    session = rtmpose.load_session(fixed_detector_model(tmp_path / "raw.onnx", raw), "Person detector")
    box = rtmpose.detect_largest_person(session, np.zeros((120, 160, 3), np.uint8))
    np.testing.assert_allclose(box, np.array([36, 20, 52, 36]) / 0.4, atol=1e-3)


def test_no_person_and_missing_models_and_bad_images_raise_helpful_errors(tmp_path):
    weak = np.full(K, 0.1)
    path = designed_pose_model(tmp_path / "weak.onnx", _peaks(np.zeros(K, int), 2 * POSE_W, weak),
                               _peaks(np.zeros(K, int), 2 * POSE_H, weak))
    with pytest.raises(PoseInputError, match="No person found.*POSE_KEYPOINT.*default body"):
        detect_reference_pose(np.zeros((64, 64, 3), np.uint8), path)
    with pytest.raises(ChoreoError, match=r"not found at .*ComfyUI/models/choreo/rtmlib/.*dw-ll_ucoco_384"):
        detect_reference_pose(np.zeros((64, 64, 3), np.uint8), tmp_path / "absent.onnx")
    with pytest.raises(ImageInputError, match=r"\(H, W, 3\) uint8"):
        detect_reference_pose(np.zeros((64, 64), np.float32), path)


def test_reference_from_pose_keypoint_takes_first_person_frame_on_the_image_canvas():
    body = [v for i in range(18) for v in (10.0 + i, 20.0 + i, 1.0)]
    frames = [{"canvas_width": 100, "canvas_height": 100, "people": []},
              {"canvas_width": 100, "canvas_height": 100, "people": [{"pose_keypoints_2d": body}]}]
    ref = reference_from_pose_keypoint(frames, (200, 300))
    assert (ref.num_frames, ref.canvas_width, ref.canvas_height) == (1, 200, 300)
    np.testing.assert_allclose(ref.keypoints_px[0, 1], [22.0, 63.0])
    with pytest.raises(PoseInputError, match="no person in any frame"):
        reference_from_pose_keypoint(frames[:1], (200, 300))


def test_default_reference_pose_stands_upright_with_arms_down():
    ref = default_reference_pose(512, 768)
    kp, conf = ref.keypoints_px[0], ref.confidence[0]
    assert ref.num_frames == 1 and conf[:18].all()
    assert kp[B["left_wrist"], 1] > kp[B["left_shoulder"], 1] + 100
    assert kp[B["nose"], 1] < kp[B["neck"], 1] < kp[B["right_hip"], 1] < kp[B["right_ankle"], 1]
    assert kp[:, 1].max() == pytest.approx(0.9 * 768, abs=1e-2)
