"""The label contract (``LABELS.md``): three stance labels plus ``none``, in one place."""

from __future__ import annotations

CONTRACT_LABELS = ("pro_negotiation", "skeptical", "conditional", "none")
STANCE_LABELS = CONTRACT_LABELS[:3]
# Tags for sentences whose label is decided by one of the contract's hard-case rules.
HARD_CASES = (
    "contrast",
    "negated_willingness",
    "reported_unwillingness",
    "implicit_condition",
    "sequenced_condition",
    "strength_before_talks",
    "hedged_support",
    "deference",
    "goal_as_requirement",
    "qualifier_not_condition",
    "withdrawal_remark",
)
