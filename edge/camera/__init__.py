"""Frame sources. One interface (:class:`FrameSource`); drivers chosen by the config's ``type``."""
