"""LED board (and later the speaker): one interface, drivers chosen by ``type``."""
