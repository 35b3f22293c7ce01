"""The whole-site simulation (``gate-sim site``): real gate daemons, central service and simulators,
truck traffic through the site's export and import flows, chaos, and an end-of-run audit.

Modules: :mod:`plan` (traffic file), :mod:`central` (service process, people), :mod:`rig` (one gate's
simulators and daemon), :mod:`lane` (a truck at a gate), :mod:`traffic` (arrivals, declarations,
confirmations, routes), :mod:`clock` (simulated time, lag), :mod:`truth` (ground truth),
:mod:`audit`, :mod:`chaos`, :mod:`view`, :mod:`orchestrator`, :mod:`cli`.
"""
