"""Old home of the calculator registry; it lives in models/registry.py now.

Why it exists: README.md documented ``lammps_mliap_ase.calculators`` (``make_calculator``,
``check_options``, ``available``) for building calculators by name from Python, and scripts
written against it must keep working. New code imports lammps_mliap_ase.models.registry.
"""

from .models.registry import (
    REGISTRY,
    CalculatorSpec,
    available,
    check_options,
    factory,
    make_calculator,
    offline_weights,
)

__all__ = ["REGISTRY", "CalculatorSpec", "available", "check_options", "factory",
           "make_calculator", "offline_weights"]
