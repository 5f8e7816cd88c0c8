"""Old home of the torch-sim family; it lives in models/torchsim.py now.

Why it exists: pair files written before the package was split into folders (issue 18) pickle a
torch-sim calculator they hold by its old class path,
``lammps_mliap_ase.torchsim.TorchSimCalculator``; pickle imports this module and looks the name
up, so it must stay importable for those files to load. New code imports
lammps_mliap_ase.models.torchsim.
"""

from .models.torchsim import (
    TorchSimBackend,
    TorchSimCalculator,
    build_model,
    calibrate,
    evaluate_systems,
)

__all__ = ["TorchSimBackend", "TorchSimCalculator", "build_model", "calibrate", "evaluate_systems"]
