"""Names of Choreo's own socket types (prefixed so they never clash with core types)."""

MUSIC = "CHOREO_MUSIC"  # choreo.music.analysis.MusicAnalysis
MUSIC_FEATURES = "CHOREO_MUSIC_FEATURES"  # choreo.music.features.MusicFeatures
MOTION = "CHOREO_MOTION"  # choreo.motion.motion3d.Motion3D
MOTION_EXPERT = "CHOREO_MOTION_EXPERT"  # choreo.generators.motion_expert.MotionExpert
POSE = "CHOREO_POSE"  # choreo.pose.sequence.PoseSequence2D (a reference pose is one frame)
POSE_TOKENS = "CHOREO_POSE_TOKENS"  # {"tokens": (T, 5, 6) int64, "fps": float, "confidence": (T, 60) float32}
XDANCER_MODEL = "CHOREO_XDANCER_MODEL"  # choreo.generators.xdancer.XDancerModels
XDANCER_RENDERER = "CHOREO_XDANCER_RENDERER"  # choreo.render.xdancer.XDancerComponents
SMPL_BODY = "CHOREO_SMPL_BODY"  # choreo.motion.smpl_body.SMPLBody
BODY = "CHOREO_BODY"  # choreo.motion.anny_body.PosedBody (a dance on the anny mesh, posed on demand)
POSE_KEYPOINT = "POSE_KEYPOINT"  # ComfyUI's native OpenPose-style frames, absolute pixels

CATEGORY = "Choreo"
