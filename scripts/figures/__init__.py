"""Figures and cost numbers for ``docs/3d-glsp.md``, computed from the real network modules.

Module map: plans (the plans file, building the network), trace (one forward pass with hooks:
shapes, multiply-adds, output bytes), cost (the per-component table), plots (q-shift, WKV
weights, token-shift mixes), diagrams (GLSP3D data flow, the whole network).
``scripts/make_figures.py`` runs them all.
"""
