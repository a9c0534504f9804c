"""The photo detector: crops, landmark mapping, the search over crops, refusals and the reference fit.

The search and the fit run on stand-in networks with known output (a BlazePose that reports one
body where it is told). A tiny ``.tflite`` file written in TFLite's own layout checks the OpenCV
runner. When MediaPipe's real models are installed (``python -m choreo.pose.mediapipe_models``; CI
fetches them) the bundled demo character is detected for real and compared with its hand-made pose.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np
import pytest

from choreo.errors import ChoreoError, PoseInputError
from choreo.pose import mediapipe_models, person_detector, reference
from choreo.pose.crops import Crop
from choreo.pose.keypoint_format import to_pose_keypoint
from choreo.pose.layout import B, BODY, F, FACE, LEFT_HAND
from choreo.pose.mediapipe_layout import BLAZE, FACE68_FROM_MESH, body_from_blaze, face_from_mesh
from choreo.pose.tflite_net import TFLiteNet

from tflite_writer import write_conv_model

REPO = Path(__file__).resolve().parents[1]


# ---------------------------------------------------------------- crops

def test_crop_maps_points_both_ways_and_stands_the_body_upright():
    hips, head = np.array([120.0, 200.0]), np.array([160.0, 100.0])
    crop = Crop.upright(hips, head, 150.0, 256)
    to_crop = crop.image_to_crop()
    points = np.array([[10.0, 20.0], [300.0, 50.0], hips, head])
    in_crop = points @ to_crop[:, :2].T + to_crop[:, 2]
    np.testing.assert_allclose(crop.to_image(in_crop), points, atol=1e-3)
    hips_c, head_c = in_crop[2], in_crop[3]
    np.testing.assert_allclose(hips_c, [128.0, 128.0], atol=1e-3)  # centred on the start point
    assert abs(head_c[0] - hips_c[0]) < 1e-3 and head_c[1] < hips_c[1]  # straight up


def test_crop_cut_and_paste_agree():
    image = np.zeros((90, 120, 3), np.uint8)
    image[30:60, 40:80] = 255
    crop = Crop((60.0, 45.0), 120.0, 0.3, 64)
    patch = crop.cut(image)
    assert patch.shape == (1, 64, 64, 3) and patch.max() == pytest.approx(1.0)
    back = crop.paste(patch[0, :, :, 0], (90, 120))
    assert back[45, 60] == pytest.approx(1.0, abs=1e-3) and back[5, 5] == pytest.approx(0.0, abs=1e-3)


# ---------------------------------------------------------------- landmark mapping

def _blaze_body(offset=(0.0, 0.0)) -> np.ndarray:
    """33 BlazePose points of a frontal standing person, subject's right on the image's left."""
    p = np.zeros((33, 2), np.float32)
    named = {"nose": (100, 40), "right_eye": (94, 34), "left_eye": (106, 34), "right_ear": (88, 38),
             "left_ear": (112, 38), "right_shoulder": (80, 70), "left_shoulder": (120, 70), "right_elbow": (72, 110),
             "left_elbow": (128, 110), "right_wrist": (70, 150), "left_wrist": (130, 150), "right_hip": (88, 150),
             "left_hip": (112, 150), "right_knee": (88, 210), "left_knee": (112, 210), "right_ankle": (88, 270),
             "left_ankle": (112, 270), "right_heel": (86, 278), "left_heel": (114, 278),
             "right_foot_index": (84, 286), "left_foot_index": (116, 286), "right_index": (68, 165),
             "left_index": (132, 165), "right_pinky": (74, 163), "left_pinky": (126, 163)}
    for name, xy in named.items():
        p[BLAZE[name]] = xy
    return p + np.asarray(offset, np.float32)


def test_blazepose_maps_onto_openpose_body_and_feet():
    blaze = _blaze_body()
    visibility = np.full(33, 0.9, np.float32)
    visibility[BLAZE["left_ankle"]] = 0.2
    points, confidence = body_from_blaze(blaze, visibility)
    for name in ("nose", "right_shoulder", "left_wrist", "right_hip", "left_ear"):
        np.testing.assert_array_equal(points[B[name]], blaze[BLAZE[name]])
    np.testing.assert_allclose(points[B["neck"]], [100, 70])  # OpenPose's neck: between the shoulders
    np.testing.assert_array_equal(points[F["right_big_toe"]], blaze[BLAZE["right_foot_index"]])
    np.testing.assert_array_equal(points[F["left_heel"]], blaze[BLAZE["left_heel"]])
    # The small toe sits between toe and heel, on the outside of the foot.
    assert points[F["right_small_toe"], 0] < points[F["right_big_toe"], 0]
    assert points[F["left_small_toe"], 0] > points[F["left_big_toe"], 0]
    assert confidence[B["left_ankle"]] == pytest.approx(0.2)
    assert confidence[F["right_small_toe"]] == pytest.approx(0.45)
    assert not confidence[FACE].any() and not confidence[LEFT_HAND].any()


def test_face_mesh_gives_ibug_68_and_two_pupils():
    mesh = np.arange(468 * 2, dtype=np.float32).reshape(468, 2)
    face = face_from_mesh(mesh)
    assert face.shape == (70, 2) and len(set(FACE68_FROM_MESH)) == 68
    np.testing.assert_array_equal(face[30], mesh[4])  # nose tip
    np.testing.assert_allclose(face[68], face[36:42].mean(axis=0))  # right pupil = right-eye centre


# ---------------------------------------------------------------- the search, on stand-in networks

class FakePoseNet:
    """A BlazePose stand-in: sees each body whose hip centre falls inside the crop and reports the nearest."""

    def __init__(self, bodies: list[np.ndarray]):
        self.bodies = bodies
        self.calls = 0

    def run(self, tensor):
        self.calls += 1
        crop = self.crop
        to_crop = crop.image_to_crop()
        best = None
        for body in self.bodies:
            hips = body[[BLAZE["left_hip"], BLAZE["right_hip"]]].mean(axis=0)
            centre = to_crop[:, :2] @ hips + to_crop[:, 2]
            if (0 <= centre).all() and (centre < crop.size).all():
                distance = float(np.linalg.norm(centre - crop.size / 2))
                if best is None or distance < best[0]:
                    best = (distance, body, hips)
        landmarks = np.zeros((39, 5), np.float32)
        landmarks[:, 3:] = 5.0  # visible, present (logits)
        score = 0.0
        if best is not None:
            _, body, hips = best
            head_top = body[BLAZE["nose"]] + np.array([0.0, -30.0])
            helpers = np.vstack([body, [hips, hips + (head_top - hips) * 1.2], np.zeros((4, 2))])
            landmarks[:, :2] = helpers @ to_crop[:, :2].T + to_crop[:, 2]
            score = 0.99
        mask = np.full((1, 256, 256, 1), -10.0, np.float32)
        mask[0, 96:160, 96:160] = 10.0
        return {"Identity": landmarks.reshape(1, -1), "Identity_1": np.array([[score]], np.float32),
                "Identity_2": mask}


class FakeSegmentationNet:
    def __init__(self, blobs):
        self.blobs = blobs  # (x0, y0, x1, y1) in 0..1 of the picture

    def run(self, tensor):
        mask = np.zeros((1, 256, 256, 1), np.float32)
        for x0, y0, x1, y1 in self.blobs:
            mask[0, int(y0 * 256):int(y1 * 256), int(x0 * 256):int(x1 * 256)] = 1.0
        return {"activation_10": mask}


class NoPartNet:
    def run(self, tensor):
        return {"Identity": np.zeros((1, 63), np.float32), "Identity_1": np.zeros((1, 1), np.float32),
                "conv2d_21": np.zeros((1, 1, 1, 1404), np.float32), "conv2d_31": np.full((1, 1, 1, 1), -9.0)}


@pytest.fixture
def stand_in(monkeypatch):
    """Install stand-in networks; returns a function that sets the bodies and blobs of the scene."""

    def install(bodies, blobs=()):
        pose_net = FakePoseNet(bodies)
        original_pass = person_detector._body_pass

        def body_pass(net, image, crop):
            pose_net.crop = crop
            return original_pass(pose_net, image, crop)

        monkeypatch.setattr(person_detector, "_body_pass", body_pass)
        nets = person_detector._Networks(pose_net, FakeSegmentationNet(blobs), NoPartNet(), NoPartNet())
        monkeypatch.setattr(person_detector, "_load_networks", lambda models: nets)
        return pose_net

    return install


MODELS = mediapipe_models.MediaPipeModels(Path("p"), Path("s"), Path("f"), Path("h"))


def test_one_person_is_found_settled_and_mapped(stand_in):
    image = np.zeros((300, 200, 3), np.uint8)
    pose_net = stand_in([_blaze_body()])
    person = person_detector.detect_person(image, models=MODELS)
    np.testing.assert_allclose(person.pose.keypoints_px[0, B["left_wrist"]], [130, 150], atol=1e-2)
    assert person.pose.canvas_width == 200 and person.pose.canvas_height == 300
    assert person.mask.shape == (300, 200) and person.mask.max() > 0.99 and person.mask.min() < 0.01
    assert pose_net.calls <= person_detector.REFINE_PASSES + 1


def test_several_people_come_largest_first_and_by_index(stand_in):
    small = _blaze_body() * 0.5 + np.array([300.0, 150.0], np.float32)
    big = _blaze_body()
    stand_in([small, big], blobs=[(0.74, 0.45, 0.95, 0.9)])
    image = np.zeros((320, 420, 3), np.uint8)
    people = person_detector.detect_people(image, models=MODELS)
    assert len(people) == 2 and people[0].area_px > people[1].area_px
    second = person_detector.detect_person(image, person_index=1, models=MODELS)
    np.testing.assert_allclose(second.pose.keypoints_px[0, B["nose"]], small[BLAZE["nose"]], atol=1e-2)
    with pytest.raises(PoseInputError, match="shows 2 people"):
        person_detector.detect_person(image, person_index=2, models=MODELS)


def test_overlapping_people_are_refused(stand_in):
    front, behind = _blaze_body(), _blaze_body(offset=(24.0, 5.0))
    stand_in([front, behind], blobs=[(0.3, 0.35, 0.45, 0.53)])
    with pytest.raises(PoseInputError, match="overlapping"):
        person_detector.detect_person(np.zeros((330, 240, 3), np.uint8), models=MODELS)


def test_a_photo_without_a_person_is_refused(stand_in):
    stand_in([])
    with pytest.raises(PoseInputError, match="No person was found"):
        person_detector.detect_person(np.full((64, 64, 3), 200, np.uint8), models=MODELS)


def test_points_outside_the_picture_are_absent(stand_in):
    body = _blaze_body(offset=(0.0, 100.0))  # knees and feet below the bottom edge: a waist-up photo
    stand_in([body])
    person = person_detector.detect_person(np.zeros((300, 200, 3), np.uint8), models=MODELS)
    confidence = person.pose.confidence[0]
    assert confidence[B["right_ankle"]] == 0 and confidence[B["left_knee"]] == 0
    assert confidence[B["nose"]] > 0 and confidence[B["right_hip"]] > 0


# ---------------------------------------------------------------- the reference fit

def test_without_models_the_default_body_comes_with_a_warning(monkeypatch, tmp_path):
    monkeypatch.setenv("CHOREO_MODELS_DIR", str(tmp_path))
    monkeypatch.setattr(mediapipe_models, "_installed_mediapipe_dir", lambda: None)
    fit = reference.fit_reference(np.zeros((120, 80, 3), np.uint8))
    assert fit.source == "default_body" and fit.mask is None
    assert "guess" in fit.warning and mediapipe_models.FETCH_COMMAND in fit.warning
    with pytest.raises(mediapipe_models.MissingModelsError, match=mediapipe_models.FETCH_COMMAND):
        reference.fit_reference(np.zeros((120, 80, 3), np.uint8), source="mediapipe")


def test_detector_comes_first_and_a_given_pose_beats_it(stand_in):
    stand_in([_blaze_body()])
    image = np.zeros((300, 200, 3), np.uint8)
    fit = reference.fit_reference(image, model_folders=[], source="auto")
    assert fit.source == "mediapipe" and fit.warning is None and fit.mask is not None
    given = reference.default_reference_pose(200, 300)
    fit = reference.fit_reference(image, to_pose_keypoint(given))
    assert fit.source == "pose_keypoint"
    np.testing.assert_allclose(fit.pose.keypoints_px, given.keypoints_px, atol=1e-3)
    assert fit.mask is not None  # the detected person's silhouette still comes along


def test_no_person_is_refused_not_guessed(stand_in):
    stand_in([])
    with pytest.raises(PoseInputError, match="No person"):
        reference.fit_reference(np.zeros((100, 100, 3), np.uint8))
    assert reference.fit_reference(np.zeros((100, 100, 3), np.uint8), source="default_body").source == "default_body"


# ---------------------------------------------------------------- model files and the runner

def test_tflite_runner_reads_a_real_tflite_file_in_nhwc(tmp_path):
    rng = np.random.default_rng(0)
    weights, bias = rng.normal(size=(2, 3, 3, 3)).astype(np.float32), np.array([0.5, -1.0], np.float32)
    net = TFLiteNet(write_conv_model(tmp_path / "conv.tflite", weights, bias, 6, 5))
    x = rng.random((1, 6, 5, 3)).astype(np.float32)
    out = net.run(x)["output"]
    padded = np.pad(x[0], ((1, 1), (1, 1), (0, 0)))
    expected = np.array([[np.einsum("ohwi,hwi->o", weights, padded[i:i + 3, j:j + 3]) + bias for j in range(5)]
                         for i in range(6)])
    assert out.shape == (1, 6, 5, 2)
    np.testing.assert_allclose(out[0], expected, atol=1e-5)


def test_a_corrupt_model_file_names_the_file_and_the_fix(tmp_path):
    bad = tmp_path / "pose_landmark_full.tflite"
    bad.write_bytes(b"not a model" * 10)
    with pytest.raises(ChoreoError, match="pose_landmark_full.tflite.*mediapipe_models"):
        TFLiteNet(bad)


def test_models_are_found_in_a_folder_and_missing_ones_are_named(tmp_path, monkeypatch):
    monkeypatch.setenv("CHOREO_MODELS_DIR", str(tmp_path / "empty"))
    monkeypatch.setattr(mediapipe_models, "_installed_mediapipe_dir", lambda: None)
    for model in mediapipe_models.MODEL_FILES[:3]:
        (tmp_path / model.name).write_bytes(b"x")
    with pytest.raises(mediapipe_models.MissingModelsError, match="hand_landmark_full.tflite"):
        mediapipe_models.find_models([tmp_path])
    (tmp_path / mediapipe_models.HAND.name).write_bytes(b"x")
    assert mediapipe_models.find_models([tmp_path]).hand == tmp_path / mediapipe_models.HAND.name


def test_fetch_downloads_nothing_when_the_models_are_there(tmp_path, monkeypatch):
    def no_download(*args, **kwargs):
        raise AssertionError("pip was called although the models are installed")

    monkeypatch.setattr(mediapipe_models.subprocess, "run", no_download)
    monkeypatch.setattr(mediapipe_models, "MODEL_FILES", (mediapipe_models.ModelFile(
        "tiny.tflite", "mediapipe/tiny.tflite", "2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae"),))
    (tmp_path / "tiny.tflite").write_bytes(b"foo")  # sha256("foo")
    assert mediapipe_models.fetch_models(tmp_path) == [tmp_path / "tiny.tflite"]


def test_extraction_checks_every_file_against_its_sha256(tmp_path):
    wheel = tmp_path / "mediapipe-0.10.14-cp311-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        for model in mediapipe_models.MODEL_FILES:
            archive.writestr(model.path_in_wheel, b"tampered")
    with pytest.raises(ChoreoError, match="SHA-256"):
        mediapipe_models.extract_models(wheel, tmp_path / "out")
    assert not (tmp_path / "out" / mediapipe_models.POSE.name).exists()


# ---------------------------------------------------------------- the real models, when installed

def _real_models():
    try:
        return mediapipe_models.find_models()
    except mediapipe_models.MissingModelsError:
        pytest.skip(f"MediaPipe's models are not installed (run `{mediapipe_models.FETCH_COMMAND}`)")


def test_real_detector_finds_the_demo_character_where_its_hand_made_pose_is():
    import cv2

    models = _real_models()
    image = cv2.cvtColor(cv2.imread(str(REPO / "assets" / "demo_character.png")), cv2.COLOR_BGR2RGB)
    person = person_detector.detect_person(image, models=models)
    truth = json.loads((REPO / "assets" / "demo_character_pose.json").read_text())[0]["people"][0]
    truth_body = np.array(truth["pose_keypoints_2d"], np.float32).reshape(18, 3)
    torso = np.linalg.norm(truth_body[B["neck"], :2] - truth_body[[B["right_hip"], B["left_hip"]], :2].mean(0))
    found = person.pose.keypoints_px[0, BODY]
    seen = (person.pose.confidence[0, BODY] > 0) & (truth_body[:, 2] > 0)
    error = np.linalg.norm(found[seen] - truth_body[seen, :2], axis=1)
    assert seen.sum() >= 14
    assert np.mean(error < 0.2 * torso) >= 0.85  # PCK@0.2 of the torso
    inside = person.mask[int(truth_body[B["neck"], 1]) + 40, int(truth_body[B["neck"], 0])]
    assert inside > 0.5 and person.mask[5, 5] < 0.5
    again = person_detector.detect_person(image, models=models)
    np.testing.assert_array_equal(again.pose.keypoints_px, person.pose.keypoints_px)
    np.testing.assert_array_equal(again.mask, person.mask)


def test_real_detector_refuses_a_picture_of_nothing():
    models = _real_models()
    yy, xx = np.mgrid[0:256, 0:256]
    gradient = np.stack([xx, yy, (xx + yy) // 2], axis=-1).astype(np.uint8)
    with pytest.raises(PoseInputError, match="No person"):
        person_detector.detect_person(gradient, models=models)
