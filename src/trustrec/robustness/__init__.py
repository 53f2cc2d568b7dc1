"""Robustness: profile and text attacks, their measurement, detectors and defences."""

from trustrec.robustness.attacks import CLASSIC_KINDS, profile_attack
from trustrec.robustness.audit import RobustnessReport, audit_robustness
from trustrec.robustness.defend import downweight, drop_flagged, simulated_detector
from trustrec.robustness.detect import (
    Detection,
    SupervisedDetector,
    detection_metrics,
    group_detect,
    text_detect,
    unsupervised_detect,
)
from trustrec.robustness.generative import BehaviourModel, generative_attack
from trustrec.robustness.inject import Attack
from trustrec.robustness.leakfree import leak_free_detection
from trustrec.robustness.specs import PROFILE_KINDS, AttackSpec, make_attack, pick_targets
from trustrec.robustness.text_attack import quarantine, text_attack

__all__ = [
    "CLASSIC_KINDS",
    "PROFILE_KINDS",
    "Attack",
    "AttackSpec",
    "BehaviourModel",
    "Detection",
    "RobustnessReport",
    "SupervisedDetector",
    "audit_robustness",
    "detection_metrics",
    "downweight",
    "drop_flagged",
    "generative_attack",
    "group_detect",
    "leak_free_detection",
    "make_attack",
    "pick_targets",
    "profile_attack",
    "quarantine",
    "simulated_detector",
    "text_attack",
    "text_detect",
    "unsupervised_detect",
]
