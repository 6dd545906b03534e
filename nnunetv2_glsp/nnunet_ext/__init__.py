"""The folder nnU-Net searches for external trainers (see ``nnunetv2_glsp.registration``).

nnU-Net imports every module here as a top-level module, so it holds only ``glsp_trainers``,
which re-exports the trainers with absolute imports. Do not add modules with relative imports.
"""
