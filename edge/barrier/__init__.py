"""Barrier and loop detector: one interface (:class:`Barrier`), drivers chosen by ``type``."""
