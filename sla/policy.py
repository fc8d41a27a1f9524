"""The promises of the support guide as data: targets by channel, kind of problem and estimate.

Pure: plain values in, plain values out; no ORM, no clock. The values come from a version of
`sla.models.Policy` (`Policy.targets`); `DEFAULT_TARGETS` are API.md's, which seed version 1.

Priority sets no target. The guide promises the same to every request ("Prima risposta: 10
minuti (tutte le richieste, in qualsiasi momento)") and times resolution by the kind of
problem alone; a customer chooses the priority, so targets by priority would let anyone
shorten their own promise. Priority orders the queue instead.
"""

from dataclasses import dataclass
from enum import StrEnum


class Metric(StrEnum):
    ACKNOWLEDGEMENT = "acknowledgement"
    FIRST_RESPONSE = "first_response"
    STATUS_UPDATE = "status_update"
    RESOLUTION = "resolution"


class ProblemKind(StrEnum):
    SIMPLE = "simple"
    STANDARD = "standard"
    COMPLEX = "complex"
    NON_STANDARD = "non_standard"


# Kinds of problem by category, as API.md reads the guide's "typical resolution times".
PROBLEM_KIND_BY_CATEGORY = {
    "billing": ProblemKind.SIMPLE,
    "access": ProblemKind.SIMPLE,
    "orders": ProblemKind.SIMPLE,
    "billing_credit": ProblemKind.SIMPLE,
    "account_exception": ProblemKind.SIMPLE,
    "vps": ProblemKind.STANDARD,
    "dedicated": ProblemKind.STANDARD,
    "network": ProblemKind.STANDARD,
    "datacenter": ProblemKind.STANDARD,
    "other": ProblemKind.STANDARD,
    "custom_config": ProblemKind.COMPLEX,
}


@dataclass(frozen=True)
class Targets:
    """Seconds per metric. Acknowledgement and first response run on the wall clock; status
    update and resolution on the owning team's working time."""

    acknowledgement_ticket: int = 120
    acknowledgement_chat: int = 60
    first_response: int = 600
    status_update: int = 4 * 3600
    resolution_simple: int = 30 * 60
    resolution_standard: int = 2 * 3600
    resolution_complex: int = 8 * 3600

    def __post_init__(self) -> None:
        for name, value in vars(self).items():
            if not isinstance(value, int) or value <= 0:
                raise ValueError(f"the {name} target must be a positive number of seconds")


DEFAULT_TARGETS = Targets()


def problem_kind(category: str, estimate_seconds: int | None = None) -> ProblemKind:
    if estimate_seconds:
        return ProblemKind.NON_STANDARD
    return PROBLEM_KIND_BY_CATEGORY.get(category, ProblemKind.STANDARD)


def acknowledgement_target(channel: str, targets: Targets = DEFAULT_TARGETS) -> int:
    return targets.acknowledgement_chat if channel == "chat" else targets.acknowledgement_ticket


def resolution_target(
    category: str, estimate_seconds: int | None = None, targets: Targets = DEFAULT_TARGETS
) -> int:
    kind = problem_kind(category, estimate_seconds)
    if kind is ProblemKind.NON_STANDARD:
        return int(estimate_seconds)
    return {
        ProblemKind.SIMPLE: targets.resolution_simple,
        ProblemKind.STANDARD: targets.resolution_standard,
        ProblemKind.COMPLEX: targets.resolution_complex,
    }[kind]
