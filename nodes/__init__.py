"""ComfyUI node classes: thin fronts over the core library in ``choreo``.

Node modules are listed explicitly (no directory scanning) so an import error
names the module it comes from.
"""

from .music_nodes import ChoreoAnalyzeMusic, ChoreoMusicFeatures
from .motion_nodes import ChoreoBeatChoreographer
from .pose_nodes import (ChoreoKeypointToPose, ChoreoLoadPoseKeypoint, ChoreoPosesFromVideo, ChoreoPoseToKeypoint,
                         ChoreoProjectMotion, ChoreoReferencePose, ChoreoSmoothPose)
from .render_nodes import ChoreoRenderPoseVideo
from .export_nodes import ChoreoRenderDanceVideoFile, ChoreoSaveDanceVideo
from .editor_nodes import ChoreoPoseKeyframeEditor, ChoreoRegenerateAroundEdits
from .wan_animate_nodes import ChoreoLoadWanAnimate, ChoreoWanAnimateRender
from .xdancer_nodes import ChoreoDecodePoseTokens, ChoreoEncodePoseTokens, ChoreoLoadXDancer, ChoreoXDancerGenerate
from .xdancer_renderer_nodes import ChoreoLoadXDancerRenderer, ChoreoXDancerRender
from .motion_expert_nodes import Choreo3DInpaint, ChoreoExportMotion, ChoreoGenerate3DDance, ChoreoLoadMotionExpert
from .smpl_nodes import ChoreoLoadSMPLBody, ChoreoSMPLMesh
from .dance_frames_nodes import ChoreoRenderDanceFrames
from .wan_dancer_nodes import ChoreoWanDancerKeyframes
from .body_nodes import ChoreoBodyFromDance, ChoreoRenderBodyPasses
from .musicinfuser_nodes import ChoreoLoadMusicInfuser, ChoreoMusicInfuserGenerate
from .champ_nodes import ChoreoCHAMPRender, ChoreoLoadCHAMP
from .pose_dit_nodes import ChoreoLoadPoseDiT, ChoreoPoseDiTGenerate
from .m2penc_nodes import ChoreoLoadM2PEnc, ChoreoM2PEncEncode
from .beat_snap_nodes import ChoreoSnapMotionToBeats, ChoreoSnapPoseToBeats

NODE_CLASS_MAPPINGS = {
    "ChoreoAnalyzeMusic": ChoreoAnalyzeMusic,
    "ChoreoMusicFeatures": ChoreoMusicFeatures,
    "ChoreoBeatChoreographer": ChoreoBeatChoreographer,
    "ChoreoReferencePose": ChoreoReferencePose,
    "ChoreoProjectMotion": ChoreoProjectMotion,
    "ChoreoPoseToKeypoint": ChoreoPoseToKeypoint,
    "ChoreoKeypointToPose": ChoreoKeypointToPose,
    "ChoreoPosesFromVideo": ChoreoPosesFromVideo,
    "ChoreoRenderPoseVideo": ChoreoRenderPoseVideo,
    "ChoreoSaveDanceVideo": ChoreoSaveDanceVideo,
    "ChoreoRenderDanceVideoFile": ChoreoRenderDanceVideoFile,
    "ChoreoLoadPoseKeypoint": ChoreoLoadPoseKeypoint,
    "ChoreoSmoothPose": ChoreoSmoothPose,
    "ChoreoPoseKeyframeEditor": ChoreoPoseKeyframeEditor,
    "ChoreoRegenerateAroundEdits": ChoreoRegenerateAroundEdits,
    "ChoreoLoadWanAnimate": ChoreoLoadWanAnimate,
    "ChoreoWanAnimateRender": ChoreoWanAnimateRender,
    "ChoreoLoadXDancer": ChoreoLoadXDancer,
    "ChoreoXDancerGenerate": ChoreoXDancerGenerate,
    "ChoreoEncodePoseTokens": ChoreoEncodePoseTokens,
    "ChoreoDecodePoseTokens": ChoreoDecodePoseTokens,
    "ChoreoLoadXDancerRenderer": ChoreoLoadXDancerRenderer,
    "ChoreoXDancerRender": ChoreoXDancerRender,
    "ChoreoLoadMotionExpert": ChoreoLoadMotionExpert,
    "ChoreoGenerate3DDance": ChoreoGenerate3DDance,
    "Choreo3DInpaint": Choreo3DInpaint,
    "ChoreoExportMotion": ChoreoExportMotion,
    "ChoreoLoadSMPLBody": ChoreoLoadSMPLBody,
    "ChoreoSMPLMesh": ChoreoSMPLMesh,
    "ChoreoRenderDanceFrames": ChoreoRenderDanceFrames,
    "ChoreoWanDancerKeyframes": ChoreoWanDancerKeyframes,
    "ChoreoBodyFromDance": ChoreoBodyFromDance,
    "ChoreoRenderBodyPasses": ChoreoRenderBodyPasses,
    "ChoreoLoadMusicInfuser": ChoreoLoadMusicInfuser,
    "ChoreoMusicInfuserGenerate": ChoreoMusicInfuserGenerate,
    "ChoreoLoadCHAMP": ChoreoLoadCHAMP,
    "ChoreoCHAMPRender": ChoreoCHAMPRender,
    "ChoreoLoadPoseDiT": ChoreoLoadPoseDiT,
    "ChoreoPoseDiTGenerate": ChoreoPoseDiTGenerate,
    "ChoreoLoadM2PEnc": ChoreoLoadM2PEnc,
    "ChoreoM2PEncEncode": ChoreoM2PEncEncode,
    "ChoreoSnapMotionToBeats": ChoreoSnapMotionToBeats,
    "ChoreoSnapPoseToBeats": ChoreoSnapPoseToBeats,
}

NODE_DISPLAY_NAME_MAPPINGS = {
    "ChoreoAnalyzeMusic": "Analyze Music (Choreo)",
    "ChoreoMusicFeatures": "Music Features (Choreo)",
    "ChoreoBeatChoreographer": "Beat Choreographer (Choreo)",
    "ChoreoReferencePose": "Reference Pose (Choreo)",
    "ChoreoProjectMotion": "Project 3D to 2D / Retarget (Choreo)",
    "ChoreoPoseToKeypoint": "Pose Sequence to POSE_KEYPOINT (Choreo)",
    "ChoreoKeypointToPose": "POSE_KEYPOINT to Pose Sequence (Choreo)",
    "ChoreoPosesFromVideo": "Poses from Video (Choreo)",
    "ChoreoRenderPoseVideo": "Render Pose Video (Choreo)",
    "ChoreoSaveDanceVideo": "Save Dance Video (Choreo)",
    "ChoreoRenderDanceVideoFile": "Render Dance to Video File (Choreo)",
    "ChoreoLoadPoseKeypoint": "Load POSE_KEYPOINT JSON (Choreo)",
    "ChoreoSmoothPose": "Smooth Pose Sequence (Choreo)",
    "ChoreoPoseKeyframeEditor": "Pose Keyframe Editor (Choreo)",
    "ChoreoRegenerateAroundEdits": "Regenerate Around Edits (Choreo)",
    "ChoreoLoadWanAnimate": "Load Wan Animate (diffusers) (Choreo)",
    "ChoreoWanAnimateRender": "Wan Animate Render (Choreo)",
    "ChoreoLoadXDancer": "Load X-Dancer Motion Model (Choreo)",
    "ChoreoXDancerGenerate": "X-Dancer Generate Motion (Choreo)",
    "ChoreoEncodePoseTokens": "Encode Pose Tokens (Choreo)",
    "ChoreoDecodePoseTokens": "Decode Pose Tokens (Choreo)",
    "ChoreoLoadXDancerRenderer": "Load X-Dancer Renderer (Choreo)",
    "ChoreoXDancerRender": "X-Dancer Render (Choreo)",
    "ChoreoLoadMotionExpert": "Load Motion Expert (Choreo)",
    "ChoreoGenerate3DDance": "Generate 3D Dance (Choreo)",
    "Choreo3DInpaint": "3D In-paint (Choreo)",
    "ChoreoExportMotion": "Export Motion BVH/NPZ (Choreo)",
    "ChoreoLoadSMPLBody": "Load SMPL Body Model (Choreo)",
    "ChoreoSMPLMesh": "SMPL Mesh from 3D Dance (Choreo)",
    "ChoreoRenderDanceFrames": "Render Dance Frames (Choreo)",
    "ChoreoWanDancerKeyframes": "Wan-Dancer Keyframes (Choreo)",
    "ChoreoBodyFromDance": "Body from 3D Dance (Choreo)",
    "ChoreoRenderBodyPasses": "Render Body Passes (Choreo)",
    "ChoreoLoadMusicInfuser": "Load MusicInfuser (Choreo)",
    "ChoreoMusicInfuserGenerate": "MusicInfuser Generate (Choreo)",
    "ChoreoLoadCHAMP": "Load CHAMP (Choreo)",
    "ChoreoCHAMPRender": "CHAMP Render (Choreo)",
    "ChoreoLoadPoseDiT": "Load Pose DiT (Choreo)",
    "ChoreoPoseDiTGenerate": "Pose DiT Generate (Choreo)",
    "ChoreoLoadM2PEnc": "Load M2PEnc (Choreo)",
    "ChoreoM2PEncEncode": "M2PEnc Encode (Choreo)",
    "ChoreoSnapMotionToBeats": "Snap 3D Dance to Beats (Choreo)",
    "ChoreoSnapPoseToBeats": "Snap Pose Sequence to Beats (Choreo)",
}
