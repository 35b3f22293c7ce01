"""Training tools for the plate recogniser (synthetic data, real crops, CRNN, export to OpenVINO IR).

Nothing here runs on the box: training needs the ``train`` extra (torch, fonttools, nncf). The box
only loads the exported IR under ``edge/plate/models/``. :mod:`labels` and :mod:`heldout` (label
mending, the audited held-out set) are plain Python, used by the plate benchmark and the tests too.
"""
