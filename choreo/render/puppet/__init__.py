"""CPU puppet renderer: animates the reference image itself (no weights), after AnimatedDrawings.

``build_puppet`` rigs an image once (segmentation, background plate, part meshes, skinning);
``Puppet.render_frame`` / ``iter_puppet_frames`` pose it per frame. ``Puppet.notes`` says what a
picture cannot show (no legs, a profile, a hidden arm); unriggable pictures raise ImageInputError.
"""

from .mesh import Mesh, triangulate_mask
from .renderer import Puppet, PuppetConfig, PuppetLayer, build_puppet, iter_puppet_frames

__all__ = ["Mesh", "Puppet", "PuppetConfig", "PuppetLayer", "build_puppet", "iter_puppet_frames", "triangulate_mask"]
