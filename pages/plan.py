"""Plan page: power of a test by simulation (from a fit or a study design), and a sandbox that
generates data from known true values, fits them and shows what the fit recovers."""
from __future__ import annotations

from gui.shell import page, plan_builder, widgets


def body() -> None:
    mode = widgets.pref_select("What to do", "plan.mode", ["Power analysis", "Sandbox"], widget="segmented")
    if mode == "Power analysis":
        plan_builder.power_section()
    else:
        plan_builder.sandbox_section()


page.run("Plan", body, "How many subjects, items or schools does a study need to detect an effect? And what "
                       "does a mixed model do with data whose truth is known?")
