"""All figure builders of the app in one namespace (pure functions data -> ``go.Figure``).

The builders live in topic modules: :mod:`gui.figures.charts_data` (Explore), :mod:`gui.figures.charts_ranef`
(Random effects), :mod:`gui.figures.charts_diag` (Diagnostics), :mod:`gui.figures.charts_fit` (Summary,
Bootstrap, Compare), :mod:`gui.figures.charts_effects` (Effects). None of them calls ``st.*``.
"""
from __future__ import annotations

from gui.figures.charts_common import chart_config, empty_figure  # noqa: F401
from gui.figures.charts_data import binary_by_covariate, crosstab_heatmap, dotplot_by_group, histogram, trellis  # noqa: F401
from gui.figures.charts_diag import (  # noqa: F401
                             dispersion_histogram,
                             leverage_plot,
                             qq_normal,
                             qq_uniform,
                             resid_by_group,
                             resid_histogram,
                             resid_vs_fitted,
                             scale_location,
                             scaled_vs_predicted,
)
from gui.figures.charts_effects import contrast_plot, effect_plot  # noqa: F401
from gui.figures.charts_fit import bootstrap_histograms, coefplot, compare_ic, optimizer_trace, sparsity_image  # noqa: F401
from gui.figures.charts_ranef import caterpillar, group_panels, order_levels, qq_caterpillar, shrinkage  # noqa: F401
