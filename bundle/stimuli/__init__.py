"""Stimuli for ic01, vww01 and ad01, prepared from the public source datasets.

Only the KWS stimuli are published as files; the others are made here from pinned
archives (artifacts/lock.yaml `archives:`) under the names in each y_labels.csv.
"""
from bundle.stimuli.sources import SETS, StimulusSet
from bundle.stimuli.stage import SetResult, default_out_dir, prepare, prepare_all

__all__ = ["SETS", "SetResult", "StimulusSet", "default_out_dir", "prepare", "prepare_all"]
