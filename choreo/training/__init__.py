"""Trainers for Choreo's learned generators (command-line entry points, ``python -m choreo.training.<name>``)."""
