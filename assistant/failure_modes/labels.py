"""The failure-mode data set's classes, and the work-order failure mode each one files as.

The data set (``../shared/data/failure-modes``, Stewart et al.'s FMC-MWO2KG observations) labels
each observation with a failure-mode name. Most names are ISO 14224 failure modes; three are not
one-to-one:

- ``Leaking`` merges external leakage of process and utility media and internal leakage. Andon's
  plants leak hydraulic oil, lube oil, air and coolant, all utility media, so it files as ELU.
- ``Electrical`` and ``Contamination`` are failure mechanisms in ISO 14224 (Table B.2, groups 4
  and 5.2), not modes: they file as the extension codes ELE and CTM (see ``FailureMode``).
- ``Failure to rotate`` (one training example, none in dev or test) files as FTF: a shaft that
  will not turn fails to function on demand.

Evaluation compares data-set names, so these choices never change a reported figure.
"""

from __future__ import annotations

from types import MappingProxyType

from control.workorders.models import FailureMode

# The ISO 14224 description of each code: what ``FailureModeGuess.label`` says.
DESCRIPTIONS = MappingProxyType(
    {
        FailureMode.AIR: "Abnormal instrument reading",
        FailureMode.BRD: "Breakdown",
        FailureMode.ELP: "External leakage - process medium",
        FailureMode.ELU: "External leakage - utility medium",
        FailureMode.ERO: "Erratic output",
        FailureMode.FTS: "Fail to start on demand",
        FailureMode.STP: "Fail to stop on demand",
        FailureMode.HIO: "High output",
        FailureMode.LOO: "Low output",
        FailureMode.NOI: "Noise",
        FailureMode.OHE: "Overheating",
        FailureMode.PDE: "Parameter deviation",
        FailureMode.SER: "Minor in-service problems",
        FailureMode.STD: "Structural deficiency",
        FailureMode.VIB: "Vibration",
        FailureMode.PLU: "Plugged / choked",
        FailureMode.UST: "Spurious stop",
        FailureMode.FTF: "Fail to function on demand",
        FailureMode.FTO: "Fail to open on demand",
        FailureMode.FTC: "Fail to close on demand",
        FailureMode.INL: "Internal leakage",
        FailureMode.ELE: "Electrical (ISO 14224 failure mechanism, not a mode)",
        FailureMode.CTM: "Contamination (ISO 14224 failure mechanism, not a mode)",
        FailureMode.OTH: "Other",
        FailureMode.UNK: "Unknown",
    }
)

# Data-set class name -> the failure mode a work order records.
DATASET_MODES = MappingProxyType(
    {
        "Abnormal instrument reading": FailureMode.AIR,
        "Breakdown": FailureMode.BRD,
        "Contamination": FailureMode.CTM,
        "Electrical": FailureMode.ELE,
        "Erratic output": FailureMode.ERO,
        "Fail to close": FailureMode.FTC,
        "Fail to function": FailureMode.FTF,
        "Fail to open": FailureMode.FTO,
        "Failure to rotate": FailureMode.FTF,
        "Failure to start on demand": FailureMode.FTS,
        "Failure to stop on demand": FailureMode.STP,
        "High output": FailureMode.HIO,
        "Leaking": FailureMode.ELU,
        "Low output": FailureMode.LOO,
        "Minor in-service problems": FailureMode.SER,
        "Noise": FailureMode.NOI,
        "Other": FailureMode.OTH,
        "Overheating": FailureMode.OHE,
        "Plugged / choked": FailureMode.PLU,
        "Spurious stop": FailureMode.UST,
        "Structural deficiency": FailureMode.STD,
        "Vibration": FailureMode.VIB,
    }
)

# Modes the plant's own records use that the data set has no class for ("Parameter deviation"):
# classes named by their ISO 14224 description, learnt from the plant's history alone.
_PLANT_ONLY = frozenset(FailureMode) - set(DATASET_MODES.values()) - {FailureMode.UNK}
# Every class the model may predict -> the failure mode a work order records.
CLASS_MODES = MappingProxyType(
    dict(DATASET_MODES) | {DESCRIPTIONS[mode]: mode for mode in sorted(_PLANT_ONLY)}
)


def class_of(mode: FailureMode) -> str:
    """The class a record of ``mode`` trains: the data set's name for it where it has one."""
    return next(name for name, m in CLASS_MODES.items() if m == mode)
