"""Motion generators: diffusion schedule and sampler, losses, normaliser, kinematics in torch, converters.

Modules here import torch; ``choreo`` itself does not import this package.
"""
