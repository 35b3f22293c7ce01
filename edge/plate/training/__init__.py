"""Training tools for the plate recogniser (synthetic data, real crops, CRNN, export to OpenVINO IR).

Nothing here runs on the box: it needs the ``train`` extra (torch, fonttools). The box only loads
the exported IR under ``edge/plate/models/``.
"""
