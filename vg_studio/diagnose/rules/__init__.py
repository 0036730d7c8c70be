"""The diagnosis rules, one module each; `RULES` is the registry the engine runs, in this order (a rule may read
whether an earlier one's evidence holds at the same record: vanishing reads the loss plateau). A new rule is one
module plus one line here (and its finding kind in `catalog.FINDING_KINDS`, its fixes in `diagnose.fixes`)."""

from vg_studio.diagnose.rules.base import NOT_HELD, Rule, Verdict
from vg_studio.diagnose.rules.dead_units import DeadUnits
from vg_studio.diagnose.rules.exploding import Exploding
from vg_studio.diagnose.rules.flat_weights import FlatWeights
from vg_studio.diagnose.rules.loss_plateau import LossPlateau
from vg_studio.diagnose.rules.non_finite import NonFinite
from vg_studio.diagnose.rules.oscillating_loss import OscillatingLoss
from vg_studio.diagnose.rules.poor_initialization import PoorInitialization
from vg_studio.diagnose.rules.saturated_units import SaturatedUnits
from vg_studio.diagnose.rules.slow_convergence import SlowConvergence
from vg_studio.diagnose.rules.vanishing import Vanishing
from vg_studio.diagnose.rules.vanishing_through_time import VanishingThroughTime

RULES: tuple[type[Rule], ...] = (
    NonFinite,
    Exploding,
    DeadUnits,
    SaturatedUnits,
    LossPlateau,
    Vanishing,
    VanishingThroughTime,
    FlatWeights,
    OscillatingLoss,
    SlowConvergence,
    PoorInitialization,
)

__all__ = ["NOT_HELD", "RULES", "Rule", "Verdict"]
