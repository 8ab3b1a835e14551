"""Mineral prospectivity: evidence, memberships, overlays, WofE, LR/RF, hold-outs, curves.

Turning evidence into one favourability score, fitting it to known deposits and testing
it. The modules:

=============  =========================================================================
memberships    fuzzy memberships: evidence values to favourability in [0, 1]
overlays       fuzzy operators (AND, OR, product, sum, gamma) and the weighted overlay
wofe           weights of evidence: weights, generalisation, posterior, independence
curves         success-/prediction-rate curves, AUC, area capture, ROC-AUC
evidence       evidence layers from rasters and vectors (distances, densities, categories)
combine        a pipeline's combination of evidence, fitted and applied chunk by chunk
modelling      logistic regression and random forest with hold-out tests
streaming      block-wise statistics over scene-sized evidence rasters
=============  =========================================================================

The functions of the first four are importable from here. Turning anomalies into zones and
ranked, licence-aware targets is :mod:`geo.targets`.
"""

from geo.prospectivity.curves import (
    area_capture,
    curve_auc,
    draw_positions,
    roc_auc,
    success_rate_curve,
)
from geo.prospectivity.memberships import fuzzy_gaussian, fuzzy_large, fuzzy_linear, fuzzy_small
from geo.prospectivity.overlays import (
    fuzzy_and,
    fuzzy_gamma,
    fuzzy_or,
    fuzzy_product,
    fuzzy_sum,
    weighted_overlay,
)
from geo.prospectivity.wofe import (
    DEPOSIT_ADJUSTMENT,
    conditional_independence,
    wofe_generalise,
    wofe_posterior,
    wofe_weights,
)

__all__ = [
    "DEPOSIT_ADJUSTMENT",
    "area_capture",
    "conditional_independence",
    "curve_auc",
    "draw_positions",
    "fuzzy_and",
    "fuzzy_gamma",
    "fuzzy_gaussian",
    "fuzzy_large",
    "fuzzy_linear",
    "fuzzy_or",
    "fuzzy_product",
    "fuzzy_small",
    "fuzzy_sum",
    "roc_auc",
    "success_rate_curve",
    "weighted_overlay",
    "wofe_generalise",
    "wofe_posterior",
    "wofe_weights",
]
