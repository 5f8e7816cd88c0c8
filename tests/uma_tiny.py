"""A tiny, randomly initialised UMA-shaped fairchem model, built offline for tests.

Real UMA weights come from HuggingFace, which tests cannot reach.  This module builds the same
architecture (`HydraModel` + `eSCNMDMoeBackbone` with mixture-of-linear-experts, one
`DatasetSpecificSingleHeadWrapper(MLP_EFS_Head)` head, per-task energy/forces/stress `Task`s)
at ~0.3 M parameters and saves it as an `MLIPInferenceCheckpoint`, so it loads through
fairchem's normal `load_predict_unit` -> `FAIRChemCalculator` path (our registry's
`uma-s-1p1` with `weights=PATH`): the bridge sees the same
charge/spin/task handling, conservative forces and stress as with UMA-S, in a fraction of a
second.  The numbers are meaningless physically; they are smooth, finite and conservative.

fairchem is imported inside the functions so that importing this module never requires it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

#: Tasks (datasets) of the released UMA models; each gets its own energy/forces/stress tasks.
UMA_TASKS: tuple[str, ...] = ("oc20", "omat", "omol", "odac", "omc")

# Any non-empty model_id marks the checkpoint as "tagged" for fairchem's UMA compat check
# (untagged MoE checkpoints are rejected as UMA 1.0); it must not be "UMA-S-1.2" (that id
# switches on a composition-embedding quirk) nor "UMA-S-1.2.1" (that one selects Nitro).
MODEL_ID = "UMA-tiny-test"

_NORMALIZER = {"_target_": "fairchem.core.modules.normalization.normalizer.Normalizer",
               "mean": 0.0, "rmsd": 1.0}


def _model_config(channels: int, num_layers: int, num_experts: int) -> dict[str, Any]:
    """UMA-S's backbone/head config with the widths shrunk (UMA-S: 128 channels, 4 layers,
    32 experts); conservative forces and stress (autograd) exactly like UMA-S."""
    backbone = {
        "model": "fairchem.core.models.uma.escn_moe.eSCNMDMoeBackbone",
        "max_num_elements": 100, "sphere_channels": channels, "hidden_channels": channels,
        "edge_channels": channels, "num_distance_basis": channels, "lmax": 2, "mmax": 2,
        "num_layers": num_layers, "cutoff": 6.0, "max_neighbors": 300, "otf_graph": True,
        "distance_function": "gaussian", "norm_type": "rms_norm_sh", "act_type": "gate",
        "ff_type": "spectral", "direct_forces": False, "regress_forces": True,
        "regress_stress": True, "chg_spin_emb_type": "rand_emb", "cs_emb_grad": True,
        "dataset_emb_grad": True, "dataset_mapping": {t: t for t in UMA_TASKS},
        "use_dataset_embedding": True, "num_experts": num_experts, "moe_dropout": 0.0,
        "use_composition_embedding": True, "moe_expert_coefficient_norm": "softmax",
        "moe_layer_type": "pytorch", "moe_single": False, "moe_type": "so2",
        "model_version": 1.1,
    }
    head = {
        "module": "fairchem.core.models.uma.escn_moe.DatasetSpecificSingleHeadWrapper",
        "head_cls": "fairchem.core.models.uma.escn_md.MLP_EFS_Head",
        "head_kwargs": {"wrap_property": False}, "dataset_names": list(UMA_TASKS),
    }
    return {"_target_": "fairchem.core.models.base.HydraModel", "backbone": backbone,
            "heads": {"energyandforcehead": head}, "pass_through_head_outputs": True,
            "model_id": MODEL_ID}


def _tasks_config() -> list[dict[str, Any]]:
    """`<task>_energy/forces/stress` Task configs, named like the head's outputs; unit
    normalizers and no element references, so predictions are the raw head outputs."""
    specs = {"energy": ("system", [1]), "forces": ("atom", [3]), "stress": ("system", [1, 9])}
    return [
        {"_target_": "fairchem.core.units.mlip_unit.mlip_unit.Task", "name": f"{task}_{prop}",
         "level": level, "property": prop, "out_spec": {"dim": dim, "dtype": "float32"},
         "normalizer": dict(_NORMALIZER), "datasets": [task]}
        for task in UMA_TASKS for prop, (level, dim) in specs.items()
    ]


def write_tiny_uma_checkpoint(path: str | Path, seed: int = 0, num_experts: int = 8,
                              channels: int = 16, num_layers: int = 2) -> Path:
    """Build a random tiny UMA model and save it as a fairchem inference checkpoint at `path`.

    Deterministic in `seed` (the weights, not the file bytes).  The EMA weights that
    `load_predict_unit` reads are those of a freshly wrapped `AveragedModel`, i.e. equal to
    the model weights.  Returns `path` as a `Path`.
    """
    import hydra
    import torch
    from fairchem.core.units.mlip_unit.api.inference import MLIPInferenceCheckpoint

    path = Path(path)
    config = _model_config(channels, num_layers, num_experts)
    rng_state = torch.random.get_rng_state()
    try:
        torch.manual_seed(seed)
        model = hydra.utils.instantiate(config)
        # Random init leaves the output MLP small; scaling its last layer gives energies of
        # O(1-10) eV, so task and charge/spin differences stand far above float noise.
        with torch.no_grad():
            model.output_heads["energyandforcehead"].head.energy_block[-1].weight.mul_(10.0)
    finally:
        torch.random.set_rng_state(rng_state)
    weights = model.state_dict()
    # AveragedModel gives the EMA key layout ("module.*" + "n_averaged"); pointing its entries
    # at the model's own tensors lets torch.save store each tensor once (halves the file).
    ema = torch.optim.swa_utils.AveragedModel(model).state_dict()
    ema = {k: weights.get(k.removeprefix("module."), v) for k, v in ema.items()}
    checkpoint = MLIPInferenceCheckpoint(model_config=config, model_state_dict=weights,
                                         ema_state_dict=ema, tasks_config=_tasks_config())
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(checkpoint, path)
    return path
