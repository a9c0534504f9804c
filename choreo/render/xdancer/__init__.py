"""X-Dancer's diffusion renderer: pose tokens + reference image -> dance video (SD1.5 + AnimateDiff + ReferenceNet).

``pipeline.render_xdancer`` samples the video, ``loading`` reads the user's weights, ``training`` is the
two-stage trainer (``python -m choreo.render.xdancer.training stage1|stage2 ...``).
"""

from .pipeline import XDancerComponents, XDancerInputError, render_xdancer

__all__ = ["XDancerComponents", "XDancerInputError", "render_xdancer"]
