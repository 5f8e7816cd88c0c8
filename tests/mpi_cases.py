"""Cases run on 1, 2 and 4 MPI ranks by test_mpi.py: name -> () -> (atoms, calculator, kwargs)."""

from __future__ import annotations

from ase.calculators.emt import EMT

from calculators import ChargeSpinPair
from systems import open_cluster, orthogonal, triclinic, with_charges_and_moments


class Exploding(EMT):
    def calculate(self, *args, **kwargs):
        raise RuntimeError("the model exploded on purpose")


def emt_orthogonal():
    return orthogonal(), EMT(), {"per_atom": True}


def emt_triclinic_real():
    return triclinic(), EMT(), {"units": "real"}


def charge_spin():
    return with_charges_and_moments(orthogonal()), ChargeSpinPair(), {"atom_style": "dipole"}


def cluster_in_one_corner():
    """All atoms on the first of 4 slabs of ranks: the other ranks own no atoms."""
    atoms = open_cluster()
    atoms.cell[0, 0] *= 4.0
    return atoms, EMT(), {"boundary": "f f f", "processors": "* 1 1"}


def exclusions():
    return orthogonal(), EMT(), {"extra": "group gone id 5 17 18\n"
                                          "neigh_modify exclude group gone all"}


def exploding():
    return orthogonal(), Exploding(), {}


CASES = {f.__name__: f for f in (emt_orthogonal, emt_triclinic_real, charge_spin,
                                  cluster_in_one_corner, exclusions, exploding)}


def lj_cluster():
    """Cluster mode with a ghost shell of twice the LJ cutoff: exact energy, forces, virial."""
    from ase.calculators.lj import LennardJones

    calc = LennardJones(sigma=2.3, epsilon=0.2, rc=5.5)
    return orthogonal(), calc, {"mode": "cluster", "receptive_field": 5.5}


CASES["lj_cluster"] = lj_cluster


def periodic_on_two_ranks():
    return orthogonal(), EMT(), {"mode": "periodic"}


CASES["periodic_on_two_ranks"] = periodic_on_two_ranks


def setup_fails_on_one_rank():
    """Only rank 1's interface refuses LAMMPS' units when the pair style connects to it."""
    from mpi4py import MPI

    kwargs = {"lammps_units": "real"} if MPI.COMM_WORLD.Get_rank() == 1 else {}
    return orthogonal(), EMT(), kwargs


CASES["setup_fails_on_one_rank"] = setup_fails_on_one_rank


def _pretrained(name):
    from lammps_mliap_ase.models.registry import make_calculator

    from systems import mgo

    return mgo(), make_calculator(name).calculator, {}


def sevennet_gather():
    """SevenNet-0 (real weights) on the MgO crystal, gathered from every rank."""
    return _pretrained("sevennet-0")


def chgnet_gather():
    """CHGNet 0.3.0 (real weights) on the MgO crystal, gathered from every rank."""
    return _pretrained("chgnet")


CASES["sevennet_gather"] = sevennet_gather
CASES["chgnet_gather"] = chgnet_gather
