"""Reference-pose sources on the labelled photo set: PCK@0.1 of the body points and time per photo.

Sources: (a) the default standing body, (b) the MediaPipe person detector
(choreo.pose.person_detector, when importable and its models are installed), (c) an
rtmlib / DWPose whole-body ONNX model when --rtmlib-model is given. On the no-person
photos the right outcome is a refusal (an error), and the table says whether each
source refused.

PCK@0.1: the share of a person's labelled body points (manifest.json, OpenPose-18) that
the source places within 0.1 x that person's torso size; a point the source leaves out
counts as missed. A source's pose is scored against each labelled person in the photo
and the best match is reported (a detector may return another person than the main one).

    python bench/photo_set/fetch.py                 # once: the photos, into ~/.cache/choreo/photo_set
    python bench/bench_reference_pose.py [--photos DIR] [--rtmlib-model M.onnx] [--draw DIR]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from choreo.errors import ChoreoError, PoseInputError  # noqa: E402
from choreo.pose.layout import BODY_NAMES  # noqa: E402
from choreo.pose.reference import default_reference_pose  # noqa: E402

DEFAULT_PHOTOS = Path.home() / ".cache" / "choreo" / "photo_set"
MANIFEST = REPO / "bench" / "photo_set" / "manifest.json"   # labels; the photos themselves are fetched
PCK_FRACTION = 0.1


@dataclass(frozen=True)
class Outcome:
    """What one source did on one photo."""

    body_px: np.ndarray | None       # (18, 2) float, pixels; None when the source refused
    body_seen: np.ndarray | None     # (18,) bool, the points the source placed
    seconds: float
    refusal: str = ""                # the error's first line when it refused


def load_rgb(path: Path) -> np.ndarray:
    """(H, W, 3) uint8 RGB, grayscale photos repeated into three channels."""
    from PIL import Image

    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"))


def labelled_body(person: dict) -> tuple[np.ndarray, np.ndarray]:
    """(18, 2) float pixels and (18,) bool 'labelled' in OpenPose-18 order."""
    points = np.zeros((len(BODY_NAMES), 2))
    labelled = np.zeros(len(BODY_NAMES), bool)
    for index, name in enumerate(BODY_NAMES):
        value = person["keypoints_px"][name]
        if value is not None:
            points[index], labelled[index] = value, True
    return points, labelled


def pck(outcome: Outcome, person: dict) -> tuple[int, int]:
    """(correct, labelled) body points of ``person`` within PCK_FRACTION x torso size."""
    truth, labelled = labelled_body(person)
    if outcome.body_px is None:
        return 0, int(labelled.sum())
    distance = np.linalg.norm(outcome.body_px - truth, axis=1)
    correct = labelled & outcome.body_seen & (distance <= PCK_FRACTION * person["torso_size_px"])
    return int(correct.sum()), int(labelled.sum())


def timed(run: Callable[[], tuple[np.ndarray, np.ndarray]]) -> Outcome:
    start = time.perf_counter()
    try:
        body_px, seen = run()
    except PoseInputError as error:  # a refusal ("no person"); any other error stops the benchmark
        first_line = (str(error).splitlines() or [""])[0]
        return Outcome(None, None, time.perf_counter() - start, f"{type(error).__name__}: {first_line}")
    return Outcome(body_px, seen, time.perf_counter() - start)


def body_of(pose) -> tuple[np.ndarray, np.ndarray]:
    """The 18 body points and which were seen, from a one-frame PoseSequence2D."""
    return pose.keypoints_px[0, :18].astype(float), pose.confidence[0, :18] > 0


def make_sources(args: argparse.Namespace) -> dict[str, Callable[[np.ndarray], Outcome]]:
    """Name -> function(image_rgb) -> Outcome, for every source available here."""
    sources: dict[str, Callable[[np.ndarray], Outcome]] = {
        "default body": lambda image: timed(lambda: body_of(default_reference_pose(image.shape[1], image.shape[0]))),
    }
    try:
        from choreo.pose.mediapipe_models import find_models
        from choreo.pose.person_detector import detect_person

        find_models()
    except Exception as error:  # not written yet, or its models not fetched: bench the other sources
        print(f"detector not available ({type(error).__name__}: {error})\n")
    else:
        def detector(image: np.ndarray) -> Outcome:
            if args.body_only:
                return timed(lambda: body_of(detect_person(image, 0, with_parts=False).pose))
            return timed(lambda: body_of(detect_person(image, 0).pose))

        sources["detector"] = detector
    if args.rtmlib_model is not None:
        from choreo.pose import rtmpose
        from choreo.pose.reference import detect_reference_pose

        rtmpose.load_session(args.rtmlib_model, "Whole-body pose")   # a broken model stops here, not as refusals

        sources["rtmlib"] = lambda image: timed(lambda: body_of(
            detect_reference_pose(image, args.rtmlib_model, args.rtmlib_det_model)))
    return sources


def draw(image: np.ndarray, photo: dict, outcomes: dict[str, Outcome], folder: Path) -> None:
    """Labels (green) and each source's body points (one colour per source) on the photo, for a look."""
    import cv2

    canvas = np.ascontiguousarray(image[:, :, ::-1])
    radius = max(3, round(max(image.shape[:2]) / 250))
    for person in photo["people"]:
        truth, labelled = labelled_body(person)
        tolerance = PCK_FRACTION * person["torso_size_px"]
        for (x, y), ok in zip(truth, labelled, strict=True):
            if ok:
                cv2.circle(canvas, (round(x), round(y)), round(tolerance), (0, 200, 0), 1, cv2.LINE_AA)
                cv2.circle(canvas, (round(x), round(y)), radius, (0, 200, 0), -1, cv2.LINE_AA)
    colours = [(0, 0, 255), (255, 0, 255), (255, 128, 0)]
    for colour, outcome in zip(colours, outcomes.values(), strict=False):
        if outcome.body_px is None:
            continue
        for (x, y), seen in zip(outcome.body_px, outcome.body_seen, strict=True):
            if seen:
                cv2.drawMarker(canvas, (round(x), round(y)), colour, cv2.MARKER_TILTED_CROSS, 3 * radius, 2)
    folder.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(folder / f"{photo['id']}.jpg"), canvas)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=Path, default=DEFAULT_PHOTOS,
                        help=f"folder written by bench/photo_set/fetch.py (default {DEFAULT_PHOTOS})")
    parser.add_argument("--rtmlib-model", type=Path, default=None, help="whole-body RTMW / DWPose ONNX model")
    parser.add_argument("--rtmlib-det-model", type=Path, default=None, help="optional YOLOX person detector ONNX")
    parser.add_argument("--body-only", action="store_true", help="detector without its face and hand passes")
    parser.add_argument("--draw", type=Path, default=None,
                        help="write each photo here with the labels (green dots, circles of PCK radius) and each "
                        "source's points (crosses: default body red, detector magenta, rtmlib blue)")
    args = parser.parse_args(argv)

    photos = json.loads(MANIFEST.read_text())["photos"]
    missing = [photo["file"] for photo in photos if not (args.photos / photo["file"]).is_file()]
    if len(missing) == len(photos):
        print(f"Photo set not fetched (no photos in {args.photos}): run `python bench/photo_set/fetch.py` first. "
              "Skipping.")
        return 0
    if missing:
        print(f"Photo set incomplete in {args.photos} (missing {', '.join(missing)}): run "
              "`python bench/photo_set/fetch.py` again. Skipping.")
        return 0
    sources = make_sources(args)

    print("| photo | framing | source | outcome | scored against | PCK@0.1 | time (s) |")
    print("|---|---|---|---|---|---|---|")
    totals = {name: [0, 0, 0, 0] for name in sources}   # correct, labelled, right refusals/detections, cases
    for photo in photos:
        image = load_rgb(args.photos / photo["file"])
        outcomes = {name: run(image) for name, run in sources.items()}
        for name, outcome in outcomes.items():
            refused = outcome.body_px is None
            if not photo["expect_person"]:
                right = refused
                result = "refused (correct)" if refused else "returned a pose (did not refuse)"
                versus, score = "-", "-"
            elif not photo["people"]:
                right = not refused
                result = f"refused: {outcome.refusal[:70]}" if refused else "returned a pose"
                versus, score = f"{photo.get('people_count', '?')} people, unlabelled", "-"
            else:
                right = not refused
                scores = [(pck(outcome, person), person["role"]) for person in photo["people"]]
                (correct, labelled), role = max(scores, key=lambda item: item[0][0] / max(item[0][1], 1))
                totals[name][0] += correct
                totals[name][1] += labelled
                result = f"refused: {outcome.refusal[:70]}" if refused else "pose"
                versus, score = role, f"{correct}/{labelled} = {correct / labelled:.2f}"
            totals[name][2] += int(right)
            totals[name][3] += 1
            print(f"| {photo['id']} | {photo['framing']} | {name} | {result} | {versus} | {score} | "
                  f"{outcome.seconds:.2f} |", flush=True)
        if args.draw is not None:
            draw(image, photo, outcomes, args.draw)

    print("\n| source | body points within 0.1 torso (all labelled photos) | right outcome (pose / refusal) |")
    print("|---|---|---|")
    for name, (correct, labelled, right, cases) in totals.items():
        share = f"{correct}/{labelled} = {correct / labelled:.2f}" if labelled else "-"
        print(f"| {name} | {share} | {right}/{cases} |")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except ChoreoError as error:   # a model that cannot be used: one line, not a traceback
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)
